"""The part-segmentation scorer: streaming `update / merge / compute` over samples.

State is the summed CxC confusion matrix plus one sparse per-sample record (the non-zero confusion entries, a few
dozen integers). Memory therefore does not depend on image sizes, and shards combine by addition: a sharded or
resumed run gives exactly the numbers of a single uninterrupted one, because records are kept in suite order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import PartbenchError
from partbench.metrics import conventions as cv
from partbench.metrics.confusion import per_class_counts
from partbench.metrics.leftright import confusion_rate, pair_counts
from partbench.metrics.statistics import (
    DEFAULT_REPLICATES,
    DEFAULT_SEED,
    DENSE_CELLS,
    bootstrap_intervals,
    paired_bootstrap_differences,
    strata_codes,
)

if TYPE_CHECKING:
    from partbench.metrics.statistics import PerSample

HEADLINE = ("h_iou", "seen_miou", "unseen_miou", "miou")
WITH_CI = HEADLINE + ("lr_confusion",)
LOWER_IS_BETTER = {"lr_confusion"}
# How results' intervals are computed (`ci_method.interval`); chosen by benchmarks/ci_coverage.py (README there).
CI_INTERVAL = "percentile"


@dataclass
class SampleScore:
    """One sample's contribution: its position in the suite order and its non-zero confusion entries."""

    index: int
    sample_id: str
    entries: np.ndarray  # (K, 3) int32 rows of [pred, gt, pixel count]: the only per-sample state kept
    object_class: str | None = None

    def to_json(self) -> dict[str, Any]:
        row = {"index": self.index, "id": self.sample_id, "conf": self.entries.tolist()}
        return row | ({"object": self.object_class} if self.object_class is not None else {})

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> SampleScore:
        entries = np.asarray(row["conf"], dtype=np.int32).reshape(-1, 3)
        return cls(index=int(row["index"]), sample_id=str(row["id"]), entries=entries, object_class=row.get("object"))


@dataclass
class ClassSpace:
    """What the scorer needs to know about a suite: class names, the unseen subset, mirrored pairs."""

    classes: tuple[str, ...]
    unseen: tuple[bool, ...]
    ignore_label: int
    pairs: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_suite(cls, suite) -> ClassSpace:
        return cls(tuple(suite.classes), tuple(suite.unseen_mask), suite.ignore_label, tuple(suite.mirrored_pairs))

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class PartSegScorer:
    space: ClassSpace
    conf: np.ndarray = field(init=False)
    samples: list[SampleScore] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        c = self.space.num_classes
        self.conf = np.zeros((c + 1, c), dtype=np.int64)  # last row: "no prediction" (see metrics.confusion)

    # -- accumulation ------------------------------------------------------------------------------------------------
    def update(self, index: int, sample_id: str, pred: np.ndarray, target: np.ndarray,
               where: str = "prediction", object_class: str | None = None) -> SampleScore:
        """Score one prediction against its ground truth (both HxW in the suite's class-id space)."""
        return self.update_many([(index, sample_id, pred, target, where, object_class)])[0]

    def update_many(self, items: Sequence[tuple[int, str, np.ndarray, np.ndarray, str, str | None]]
                    ) -> list[SampleScore]:
        """Score (index, sample id, prediction, ground truth, where, object class) items, e.g. an image's samples,
        with one `bincount` over a combined (item, prediction, ground truth) key of their labelled pixels.

        The rows are `update`'s one by one, and so are the errors: the first item (in order) that has a size
        mismatch or an out-of-range label raises the `PartbenchError` of `confusion_counts`, naming its `where`.
        """
        if not items:
            return []
        c, ignore = self.space.num_classes, self.space.ignore_label
        cells = (c + 1) * c  # one item's (C+1)xC confusion matrix, flattened
        keys = [slot * cells + _labelled_keys(pred, target, c, ignore, where)
                for slot, (_, _, pred, target, where, _) in enumerate(items)]
        counts = np.bincount(np.concatenate(keys), minlength=len(items) * cells)
        # Non-zero cells, ascending: by item, then prediction, then ground truth (`!= 0` first: nonzero is several
        # times faster on booleans than on integers).
        cell = np.flatnonzero(counts != 0)
        slot, within = np.divmod(cell, cells)
        entries = np.empty((cell.size, 3), dtype=np.int32)
        entries[:, 0], entries[:, 1] = np.divmod(within, c)
        entries[:, 2] = counts[cell]
        np.add.at(self.conf, (entries[:, 0], entries[:, 1]), entries[:, 2])
        scores = [SampleScore(index, sample_id, rows, object_class)
                  for (index, sample_id, _, _, _, object_class), rows in
                  zip(items, np.split(entries, np.searchsorted(slot, np.arange(1, len(items)))))]
        self.samples.extend(scores)
        return scores

    def add(self, score: SampleScore) -> None:
        """Add a sample scored earlier (e.g. read back from samples.jsonl)."""
        e = score.entries
        np.add.at(self.conf, (e[:, 0], e[:, 1]), e[:, 2])
        self.samples.append(score)

    def merge(self, other: PartSegScorer) -> None:
        if other.space != self.space:
            raise ValueError("cannot merge scorers of different class spaces")
        self.conf += other.conf
        self.samples.extend(other.samples)

    # -- reduction ---------------------------------------------------------------------------------------------------
    def _statistic(self, convention: str, full: np.ndarray | None = None):
        """The metrics of summed per-sample vectors. With the full set's sums `full`, the mIoUs of a resample are
        taken over the full set's classes (`conventions.replicate_miou`); without, over the sums' own classes."""
        c = self.space.num_classes
        unseen = np.asarray(self.space.unseen, dtype=bool)
        seen_ids, unseen_ids, all_ids = np.flatnonzero(~unseen), np.flatnonzero(unseen), np.arange(c)
        n_pairs = len(self.space.pairs)
        reference = None if full is None else (full[:c], full[c:2 * c], full[2 * c:3 * c])

        def miou(tp: np.ndarray, gt: np.ndarray, pred: np.ndarray, ids: np.ndarray,
                 rule: str = convention) -> np.ndarray:
            if not ids.size:
                return np.full(tp.shape[:-1], np.nan)
            if reference is None:
                return cv.subset_miou(rule, tp, gt, pred, ids)
            return cv.replicate_miou(rule, (tp, gt, pred), reference, ids)

        def statistic(vectors: np.ndarray) -> dict[str, np.ndarray]:
            """Metrics (fractions) from summed per-sample vectors laid out as [tp | pos_gt | pos_pred | lr]."""
            tp, gt, pred = vectors[..., :c], vectors[..., c:2 * c], vectors[..., 2 * c:3 * c]
            seen, unseen_m = miou(tp, gt, pred, seen_ids), miou(tp, gt, pred, unseen_ids)
            out = {
                "h_iou": cv.harmonic_mean(seen, unseen_m),
                "seen_miou": seen,
                "unseen_miou": unseen_m,
                "miou": miou(tp, gt, pred, all_ids, cv.overall_convention(convention)),
                "seen_pacc": cv.subset_pixel_accuracy(tp, gt, seen_ids),
                "unseen_pacc": cv.subset_pixel_accuracy(tp, gt, unseen_ids),
            }
            if n_pairs:
                lr = vectors[..., 3 * c:]
                out["lr_confusion"] = confusion_rate(lr[..., :n_pairs], lr[..., n_pairs:])
            return out

        return statistic

    def _vectors(self, conf: np.ndarray) -> np.ndarray:
        tp, gt, pred = per_class_counts(conf)
        parts = [tp, gt, pred]
        if self.space.pairs:
            confused, pair_gt = pair_counts(conf, np.asarray(self.space.pairs, dtype=np.int64))
            parts += [confused, pair_gt]
        return np.concatenate(parts, axis=-1).astype(np.float64)

    def _per_sample_matrix(self) -> PerSample:
        """(N, K) per-sample count vectors (`_vectors` of each sample's confusion) in suite order, dense unless large
        (`DENSE_CELLS`), computed from the samples' sparse entries a block of samples at a time (a confusion matrix
        per sample would be (C+1)xC cells, mostly zero: 16 MB per 150 Pascal-Part samples)."""
        ordered = sorted(self.samples, key=lambda s: s.index)
        width = 3 * self.space.num_classes + 2 * len(self.space.pairs)
        sparse = len(ordered) * width > DENSE_CELLS
        if sparse:
            import scipy.sparse as sp
        block = max(1, 2_000_000 // width)  # samples whose vectors are built at a time (~2M cells)
        rows = []
        for start in range(0, len(ordered), block):
            vectors = _entry_vectors([s.entries for s in ordered[start:start + block]], self.space.num_classes,
                                     self.space.pairs)
            rows.append(sp.csr_matrix(vectors) if sparse else vectors)
        if not rows:
            return np.zeros((0, width))
        return sp.vstack(rows).tocsr() if sparse else np.concatenate(rows)

    def _strata(self) -> np.ndarray:
        """Each sample's object class as a stratum code, in suite order (rows of `_per_sample_matrix`)."""
        return strata_codes([s.object_class for s in sorted(self.samples, key=lambda s: s.index)])

    def intervals(self, convention: str = "ovparts", n_replicates: int = DEFAULT_REPLICATES,
                  seed: int = DEFAULT_SEED, method: str = CI_INTERVAL, stratified: bool = True,
                  full_set_classes: bool = True) -> dict[str, tuple[float, float] | None]:
        """95 % intervals (fractions) of the `WITH_CI` metrics. The defaults are what results report; turning
        `stratified` and `full_set_classes` off gives the earlier, biased, bootstrap (for benchmarks/ci_coverage.py).
        """
        wanted = self._statistic(convention, self._vectors(self.conf) if full_set_classes else None)
        return bootstrap_intervals(
            self._per_sample_matrix(), lambda v: {k: x for k, x in wanted(v).items() if k in WITH_CI},
            n_replicates=n_replicates, seed=seed, strata=self._strata() if stratified else None, method=method,
        )

    def compute(self, convention: str = "ovparts", n_replicates: int = DEFAULT_REPLICATES,
                seed: int = DEFAULT_SEED) -> dict[str, Any]:
        """Metrics in percent (None where undefined), 95 % bootstrap intervals, per-class and per-pair detail."""
        cv.check_convention(convention)
        point = {k: _percent(v) for k, v in self._statistic(convention)(self._vectors(self.conf)).items()}
        by_convention = {
            name: {k: _percent(v) for k, v in self._statistic(name)(self._vectors(self.conf)).items() if k in HEADLINE}
            for name in cv.convention_names()
        }
        ci = {}
        if n_replicates > 0 and self.samples:
            intervals = self.intervals(convention, n_replicates, seed)
            ci = {k: (None if iv is None else [100 * iv[0], 100 * iv[1]]) for k, iv in intervals.items()}
        return {
            "metrics": point,
            "higher_is_better": {k: k not in LOWER_IS_BETTER for k in point},
            "ci95": ci,
            "ci_method": {"kind": f"{CI_INTERVAL} bootstrap over samples, stratified by object class, replicates "
                                  "scored over the full set's classes", "interval": CI_INTERVAL,
                          "resampling": "within object classes", "classes": "the full set's",
                          "strata": len(set(self._strata().tolist())), "replicates": n_replicates, "seed": seed},
            "convention_version": cv.CONVENTION_VERSION,
            "by_convention": by_convention,
            "per_class": self._per_class(),
            "lr_pairs": self._per_pair(),
        }

    def compare(self, other: PartSegScorer, convention: str = "ovparts", n_replicates: int = DEFAULT_REPLICATES,
                seed: int = DEFAULT_SEED) -> dict[str, dict[str, Any]]:
        """Paired bootstrap of `other` minus this scorer over the same samples (same suite, same sample ids): per
        metric, the difference in points, its 95 % interval and a two-sided p-value (`paired_bootstrap_differences`).
        For `lr_confusion` a negative difference means `other` confuses sides less."""
        mine, theirs = sorted(self.samples, key=lambda s: s.index), sorted(other.samples, key=lambda s: s.index)
        if self.space != other.space or [s.sample_id for s in mine] != [s.sample_id for s in theirs]:
            raise ValueError("paired comparison needs two scorers of the same class space over the same samples")
        # Same resampling as `intervals`: within object classes, each run's replicates over its full set's classes.
        mine_stat = self._statistic(convention, self._vectors(self.conf))
        theirs_stat = other._statistic(convention, other._vectors(other.conf))
        result = paired_bootstrap_differences(self._per_sample_matrix(), other._per_sample_matrix(), mine_stat,
                                              n_replicates, seed, strata=self._strata(), statistic_b=theirs_stat)
        scale = lambda x: None if x is None or np.isnan(x) else 100 * x  # noqa: E731 - fractions -> points
        return {k: {"difference": scale(v["difference"]),
                    "ci95": None if v["ci95"] is None else [100 * x for x in v["ci95"]], "p_value": v["p_value"]}
                for k, v in result.items()}

    def _per_class(self) -> list[dict[str, Any]]:
        tp, gt, pred = per_class_counts(self.conf)
        iou = cv.class_iou(tp, gt, pred)
        return [
            {"name": name, "seen": not unseen, "iou": _percent(iou[k]), "gt_pixels": int(gt[k]),
             "pred_pixels": int(pred[k])}
            for k, (name, unseen) in enumerate(zip(self.space.classes, self.space.unseen))
        ]

    def _per_pair(self) -> list[dict[str, Any]]:
        if not self.space.pairs:
            return []
        confused, gt = pair_counts(self.conf, np.asarray(self.space.pairs, dtype=np.int64))
        return [
            {"left": self.space.classes[a], "right": self.space.classes[b], "gt_pixels": int(g),
             "confused_pixels": int(x), "rate": _percent(x / g) if g else None}
            for (a, b), x, g in zip(self.space.pairs, confused, gt)
        ]


def _entry_vectors(entries: list[np.ndarray], num_classes: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """`PartSegScorer._vectors` of each sample's confusion, [tp | pos_gt | pos_pred | pair confused | pair gt], from
    its (pred, gt, count) entries (pred = C: no prediction) without building the confusions."""
    c, n = num_classes, len(entries)
    which = np.repeat(np.arange(n), [len(e) for e in entries])
    e = np.concatenate(entries).astype(np.int64) if n else np.zeros((0, 3), np.int64)
    pred, gt, count = e[:, 0], e[:, 1], e[:, 2].astype(np.float64)  # float64 sums of pixel counts are exact
    at_gt = which * c + gt

    def per_class(index: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=weights, minlength=n * c).reshape(n, c)

    predicted = pred < c
    parts = [per_class(at_gt, np.where(pred == gt, count, 0.0)), per_class(at_gt, count),
             per_class(which * c + np.where(predicted, pred, 0), np.where(predicted, count, 0.0))]
    if pairs:
        confused = np.zeros((n, len(pairs)))
        for k, (a, b) in enumerate(pairs):  # a as b plus b as a, as `pair_counts` reads the confusion
            mirrored = ((pred == b) & (gt == a)) | ((pred == a) & (gt == b))
            confused[:, k] = np.bincount(which[mirrored], weights=count[mirrored], minlength=n)
        left, right = np.asarray(pairs, dtype=np.int64).T
        parts += [confused, parts[1][:, left] + parts[1][:, right]]
    return np.concatenate(parts, axis=1)


def _labelled_keys(pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_label: int,
                   where: str) -> np.ndarray:
    """`confusion_counts`' flat keys `C * pred + gt` (pred ignore -> C) over the pixels whose ground truth is labelled,
    with its checks and messages; only those pixels are gathered, so the cost follows the object, not the image."""
    if pred.shape != target.shape:
        raise PartbenchError(
            f"{where}: prediction is {pred.shape[1]}x{pred.shape[0]} (WxH) but the ground truth is "
            f"{target.shape[1]}x{target.shape[0]}."
        )
    labelled = np.flatnonzero(target != ignore_label)  # one pass over the map; then only the labelled pixels
    g = target.reshape(-1)[labelled]
    if g.size and (int(g.min()) < 0 or int(g.max()) >= num_classes):  # would land in another sample's cells
        bad_gt = g[(g < 0) | (g >= num_classes)][0]
        raise PartbenchError(f"{where}: ground-truth label {int(bad_gt)} is out of range ({num_classes} classes).")
    p = pred.reshape(-1)[labelled]
    if p.dtype.kind == "u" and p.dtype.itemsize <= 2:  # PNG maps: one table look-up maps, checks and scales
        rows = _row_offsets(p.dtype.itemsize, num_classes, ignore_label)[p]
        bad = rows < 0
    else:
        p = p.astype(np.int64)
        bad = (p != ignore_label) & ((p < 0) | (p >= num_classes))
        rows = num_classes * np.where(p == ignore_label, num_classes, p)
    if bad.any():
        raise PartbenchError(
            f"{where}: predicted label {int(p[bad][0])} is out of range ({num_classes} classes; "
            f"{ignore_label} = no prediction)."
        )
    return rows + g.astype(np.int64, copy=False)  # int64 keys whatever the map's type (uint64 + int64 is float)


@lru_cache(maxsize=8)
def _row_offsets(itemsize: int, num_classes: int, ignore_label: int) -> np.ndarray:
    """For every 8- or 16-bit predicted value, `C * its row` of the confusion matrix (ignore: the "no prediction"
    row C), or -1 for a value out of range."""
    values = np.arange(1 << (8 * itemsize), dtype=np.int64)
    table = np.where(values < num_classes, num_classes * values, -1)
    if ignore_label < table.size:
        table[ignore_label] = num_classes * num_classes
    return table


def _percent(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else 100.0 * value
