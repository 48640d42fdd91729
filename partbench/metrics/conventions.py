"""How per-class IoUs are averaged into seen/unseen mIoU: the three conventions found in published OVPS code.

All functions take per-class counts with any leading batch dimensions (..., C), so the same code computes the
headline number and every bootstrap replicate. Undefined values are NaN here and `None` in results files.

- `ovparts` (default; OV-PARTS and LangHOPS): sum of IoU over classes with ground truth, divided by
  the number of classes with ground truth *or* prediction. A predicted-but-absent class counts as 0.
- `nanmean` (stock detectron2 `SemSegEvaluator`, PartCLIPSeg oracle): mean IoU over classes with ground truth.
- `partcatseg` (PartCATSeg): mean IoU over classes whose IoU is > 0 only, for the seen and unseen subsets. Dropping
  every class the model misses entirely inflates the number; it exists to reproduce PartCATSeg's published figures,
  not to compare with. Its all-class mIoU is PartCATSeg's plain `np.nanmean(iou)` over classes with ground truth or
  prediction, the `ovparts` rule (part-catseg `partcatseg_evaluation.py` L209-216 vs L263-285): `overall_convention`.

Each built-in is "the mean IoU over a set of classes", and says which set (`averaged_classes`). A bootstrap replicate
is scored over the *full set's* classes (`replicate_miou`), so that it computes the same statistic as the headline
number: letting every replicate pick its own classes biased the intervals (a rare class whose ground truth is not
drawn, while its false positives are, counted as a 0 the full set never had).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from partbench.metrics.version import CONVENTION_VERSION  # bump it there when any rule here changes a number
from partbench.registry import register_convention

__all__ = ["CONVENTION_VERSION", "check_convention", "convention_names", "class_iou", "subset_miou",
           "replicate_miou", "harmonic_mean", "subset_pixel_accuracy", "overall_convention"]

Rule = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def check_convention(name: str) -> str:
    from partbench.registry import CONVENTIONS

    CONVENTIONS.get(name)
    return name


def convention_names() -> list[str]:
    from partbench.registry import CONVENTIONS

    return [str(k) for k in CONVENTIONS.keys()]


def class_iou(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray) -> np.ndarray:
    """IoU per class; NaN where the union is empty."""
    union = pos_gt + pos_pred - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def _rule(convention: str) -> Rule:
    from partbench.plugins import resolve
    from partbench.registry import CONVENTIONS

    return resolve(CONVENTIONS.get(convention))


def overall_convention(convention: str) -> str:
    """The convention of the all-class mIoU under `convention`: a rule may name another (`rule.overall`)."""
    return getattr(_rule(convention), "overall", convention)


def subset_miou(convention: str, tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray,
                ids: np.ndarray) -> np.ndarray:
    """mIoU (a fraction in [0, 1], NaN if undefined) over the classes `ids`, under `convention`."""
    rule = _rule(convention)
    tp, pos_gt, pos_pred = tp[..., ids], pos_gt[..., ids], pos_pred[..., ids]
    with np.errstate(divide="ignore", invalid="ignore"):
        return rule(tp, pos_gt, pos_pred, class_iou(tp, pos_gt, pos_pred))


def replicate_miou(convention: str, counts: tuple[np.ndarray, np.ndarray, np.ndarray],
                   full: tuple[np.ndarray, np.ndarray, np.ndarray], ids: np.ndarray) -> np.ndarray:
    """mIoU of resampled counts (..., C) over the classes `ids` that the full set's counts (C,) average over.

    A class whose ground truth the resample did not draw is left out: its IoU is unknown there, not 0. The classes
    the full set averages in *without* ground truth (under `ovparts`, predicted-only ones, IoU 0 whatever is drawn)
    keep their share of the average: the mean over the classes with ground truth that were drawn is scaled by the
    full set's share of classes with ground truth. Leaving a class out must not raise the weight of those zeros, or
    the replicates would sit below the estimate again. For a built-in rule, `replicate_miou(c, full, full, ids)` is
    `subset_miou(c, *full, ids)` to the last bit.
    """
    tp, gt, pred = (x[..., ids] for x in counts)
    f_tp, f_gt, f_pred = (x[..., ids] for x in full)
    rule = _rule(convention)
    with np.errstate(divide="ignore", invalid="ignore"):
        classes = getattr(rule, "averaged_classes", None)
        if classes is None:
            return _plugin_replicate(rule, (tp, gt, pred), (f_tp, f_gt, f_pred))
        kept = classes(f_tp, f_gt, f_pred, class_iou(f_tp, f_gt, f_pred))
        with_gt = kept & (f_gt > 0)
        if not with_gt.any():  # only predicted-only classes (0) or none at all (undefined), in every replicate
            return np.full(tp.shape[:-1], 0.0 if kept.any() else np.nan)
        drawn = with_gt & (gt > 0)
        total = _row_sum(np.where(drawn, np.nan_to_num(class_iou(tp, gt, pred)), 0.0))
        # Σ drawn IoU / (n_drawn · |kept| / |with_gt|): the mean over drawn classes, scaled by the full set's share.
        # Written so that a resample drawing every class divides the same sum by |kept| as the headline does: a
        # replicate equal to the full set then gives the estimate to the last bit, not one rounding away from it.
        scaled = drawn.sum(axis=-1) * kept.sum() / with_gt.sum()
        return np.where(scaled > 0, total / np.maximum(scaled, 1), np.nan)


def _plugin_replicate(rule: Rule, counts: tuple[np.ndarray, ...], full: tuple[np.ndarray, ...]) -> np.ndarray:
    """A plugin rule that does not say which classes it averages sees the resample with the classes whose ground
    truth was not drawn removed, and the classes without ground truth in the full set as they are there. This leaves
    a class out as above but lets the other classes' weights follow; exact for rules that pick classes by ground
    truth alone."""
    (tp, gt, pred), (_, f_gt, f_pred) = counts, full
    drawn = (gt > 0) | (f_gt == 0)
    tp, gt = np.where(drawn, tp, 0), np.where(drawn, gt, 0)
    pred = np.where(f_gt == 0, np.broadcast_to(f_pred, pred.shape), np.where(drawn, pred, 0))
    return rule(tp, gt, pred, class_iou(tp, gt, pred))


# Each rule maps per-class counts (..., C) and IoUs (NaN where the union is empty) to mIoU over the last axis: the
# mean IoU over the classes its `averaged_classes` picks (a class with a prediction but no ground truth has IoU 0).
def ovparts_classes(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    return (pos_gt + pos_pred) > 0


def nanmean_classes(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    return pos_gt > 0


def partcatseg_classes(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    return np.nan_to_num(iou) > 0


def _mean_over(kept: np.ndarray, iou: np.ndarray) -> np.ndarray:
    n = kept.sum(axis=-1)
    total = _row_sum(np.where(kept, np.nan_to_num(iou), 0.0))
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _row_sum(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis, the same to the last bit for a row alone or in a batch. numpy sums a contiguous row
    pairwise but accumulates rows of a column-major batch (bootstrap sums are one) in sequence; one rounding apart,
    a replicate equal to the full set could fall just outside its own estimate."""
    return np.ascontiguousarray(x).sum(axis=-1)


def _mean_over_classes(classes: Rule) -> Rule:
    """The rule averaging IoU over `classes`; it carries `classes` for `replicate_miou`."""
    def rule(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
        return _mean_over(classes(tp, pos_gt, pos_pred, iou), iou)

    rule.averaged_classes = classes  # type: ignore[attr-defined]
    return rule


ovparts_miou = _mean_over_classes(ovparts_classes)
nanmean_miou = _mean_over_classes(nanmean_classes)
partcatseg_miou = _mean_over_classes(partcatseg_classes)
partcatseg_miou.overall = "ovparts"  # type: ignore[attr-defined]


def harmonic_mean(seen: np.ndarray, unseen: np.ndarray) -> np.ndarray:
    """h-IoU = 2·S·U/(S+U); NaN (null in results) when either is undefined or both are 0, as in the official
    evaluators: OV-PARTS divides 0 by 0, PartCATSeg guards it with NaN (`partcatseg_evaluation.py` L311)."""
    total = seen + unseen
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 2 * seen * unseen / np.where(total > 0, total, 1), np.nan)


def subset_pixel_accuracy(tp: np.ndarray, pos_gt: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Σ tp / Σ pos_gt over a class subset: the share of the subset's labelled pixels predicted correctly."""
    gt = pos_gt[..., ids].sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gt > 0, tp[..., ids].sum(axis=-1) / np.maximum(gt, 1), np.nan)


register_convention("ovparts", "partbench.metrics.conventions:ovparts_miou")
register_convention("nanmean", "partbench.metrics.conventions:nanmean_miou")
register_convention("partcatseg", "partbench.metrics.conventions:partcatseg_miou")
