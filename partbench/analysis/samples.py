"""Per-sample scores from a run's confusion rows, and the samples worth looking at: where runs disagree most, and
each run's worst.

A sample's score is its own mIoU: the mean IoU over the classes with ground truth or prediction in that sample
(the `ovparts` rule applied to one sample). It only ranks samples for the gallery; headline numbers stay
dataset-level. Reading rows is linear in the number of samples and needs no image, so a 10,000-sample suite is
ranked in seconds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def sample_score(conf: Sequence[Sequence[int]], num_classes: int) -> float:
    """mIoU (percent) of one sample's [pred, gt, count] entries; NaN when it has no pixel of any class."""
    entries = np.asarray(conf, dtype=np.int64).reshape(-1, 3)
    pred, gt, count = entries[:, 0], entries[:, 1], entries[:, 2]
    tp = np.bincount(gt[pred == gt], weights=count[pred == gt], minlength=num_classes)[:num_classes]
    pos_gt = np.bincount(gt, weights=count, minlength=num_classes)[:num_classes]
    real = pred < num_classes  # the last "class" is "no prediction"
    pos_pred = np.bincount(pred[real], weights=count[real], minlength=num_classes)[:num_classes]
    union = pos_gt + pos_pred - tp
    used = union > 0
    return float(100 * np.mean(tp[used] / union[used])) if used.any() else float("nan")


def scores_by_id(rows: Sequence[dict[str, Any]], num_classes: int) -> dict[str, float]:
    return {str(r["id"]): sample_score(r["conf"], num_classes) for r in rows}


@dataclass(frozen=True)
class Pick:
    """A sample chosen for the gallery, and why."""

    sample_id: str
    reason: str  # "disagree" | "worst <run>"
    scores: tuple[float, ...]  # one per run, in the runs' order (NaN: not scored)


def pick_samples(ids: Sequence[str], scores: Sequence[dict[str, float]], names: Sequence[str],
                 n_disagree: int, n_worst: int) -> list[Pick]:
    """The `n_disagree` samples whose scores spread most over the runs (only with two runs or more), then each run's
    `n_worst` lowest-scoring samples not already picked. Ties go to the earlier sample, so the choice is the same
    every time."""
    table = np.asarray([[s.get(i, np.nan) for s in scores] for i in ids], dtype=np.float64).reshape(len(ids), -1)
    picked: list[Pick] = []
    taken: set[int] = set()

    def take(order: Sequence[int], n: int, reason: str) -> None:
        for k in order:
            if n <= 0:
                break
            if k not in taken:
                taken.add(k)
                picked.append(Pick(ids[k], reason, tuple(float(x) for x in table[k])))
                n -= 1

    if len(names) > 1 and len(ids):
        with warnings.catch_warnings():  # all-NaN rows (a sample no run scored) warn; they sort last below
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.nanmax(table, axis=1) - np.nanmin(table, axis=1)
        spread = np.where(np.isnan(spread), -1.0, spread)
        take(list(np.lexsort((np.arange(len(ids)), -spread))), n_disagree, "disagree")
    for j, name in enumerate(names):
        column = np.where(np.isnan(table[:, j]), np.inf, table[:, j]) if len(ids) else table[:, 0]
        order = [k for k in np.lexsort((np.arange(len(ids)), column)) if np.isfinite(column[k])]
        take(order, n_worst, f"worst {name}")
    return picked

