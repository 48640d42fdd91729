"""How per-class IoUs are averaged into seen/unseen mIoU: the three conventions found in published OVPS code.

All functions take per-class counts with any leading batch dimensions (..., C), so the same code computes the
headline number and every bootstrap replicate. Undefined values are NaN here and `None` in results files.

- `ovparts` (default; OV-PARTS and LangHOPS): sum of IoU over classes with ground truth, divided by
  the number of classes with ground truth *or* prediction. A predicted-but-absent class counts as 0.
- `nanmean` (stock detectron2 `SemSegEvaluator`, PartCLIPSeg oracle): mean IoU over classes with ground truth.
- `partcatseg` (PartCATSeg): mean IoU over classes whose IoU is > 0 only. Dropping every class the model
  misses entirely inflates the number; it exists to reproduce PartCATSeg's published figures, not to compare with.
"""

from __future__ import annotations

import numpy as np

from partbench.registry import register_convention


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


def subset_miou(convention: str, tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray,
                ids: np.ndarray) -> np.ndarray:
    """mIoU (a fraction in [0, 1], NaN if undefined) over the classes `ids`, under `convention`."""
    from partbench.plugins import resolve
    from partbench.registry import CONVENTIONS

    rule = resolve(CONVENTIONS.get(convention))
    tp, pos_gt, pos_pred = tp[..., ids], pos_gt[..., ids], pos_pred[..., ids]
    with np.errstate(divide="ignore", invalid="ignore"):
        return rule(tp, pos_gt, pos_pred, class_iou(tp, pos_gt, pos_pred))


# Each rule maps per-class counts (..., C) and IoUs (NaN where the union is empty) to mIoU over the last axis.
def ovparts_miou(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    num = np.where(pos_gt > 0, np.nan_to_num(iou), 0.0).sum(axis=-1)
    den = ((pos_gt + pos_pred) > 0).sum(axis=-1)
    return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def nanmean_miou(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    return _mean_over(pos_gt > 0, iou)


def partcatseg_miou(tp: np.ndarray, pos_gt: np.ndarray, pos_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    return _mean_over(np.nan_to_num(iou) > 0, iou)


def _mean_over(kept: np.ndarray, iou: np.ndarray) -> np.ndarray:
    n = kept.sum(axis=-1)
    total = np.where(kept, np.nan_to_num(iou), 0.0).sum(axis=-1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def harmonic_mean(seen: np.ndarray, unseen: np.ndarray) -> np.ndarray:
    """h-IoU = 2·S·U/(S+U); 0 when both are 0 (PartCATSeg's zero guard), NaN when either is undefined."""
    total = seen + unseen
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(total > 0, 2 * seen * unseen / np.where(total > 0, total, 1), 0.0)
    return np.where(np.isnan(total), np.nan, h)


def subset_pixel_accuracy(tp: np.ndarray, pos_gt: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Σ tp / Σ pos_gt over a class subset: the share of the subset's labelled pixels predicted correctly."""
    gt = pos_gt[..., ids].sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gt > 0, tp[..., ids].sum(axis=-1) / np.maximum(gt, 1), np.nan)


register_convention("ovparts", "partbench.metrics.conventions:ovparts_miou")
register_convention("nanmean", "partbench.metrics.conventions:nanmean_miou")
register_convention("partcatseg", "partbench.metrics.conventions:partcatseg_miou")
