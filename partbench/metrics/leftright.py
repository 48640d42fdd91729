"""Left/right confusion: how often a part is labelled as its mirror image ('left arm' predicted as 'right arm').

For every mirrored pair (a, b) of one object, the confused pixels are the ground-truth pixels of a predicted as b
plus those of b predicted as a. The pair's rate is confused / (ground-truth pixels of a and b); the suite's
`lr_confusion` pools all pairs (Σ confused / Σ ground truth), so pairs weigh by their pixel count, like the
dataset-level IoU. Lower is better. No other OVPS benchmark measures this failure, which left/right-aware methods
such as PartConcepts target.
"""

from __future__ import annotations

import numpy as np


def pair_counts(conf: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confused, gt) per pair from `conf[..., pred, gt]` ((C+1)xC or CxC); `pairs` is (P, 2) of (left, right) ids."""
    a, b = pairs[:, 0], pairs[:, 1]
    confused = conf[..., b, a] + conf[..., a, b]
    pos_gt = conf.sum(axis=-2)
    return confused, pos_gt[..., a] + pos_gt[..., b]


def confusion_rate(confused: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Pooled rate over the last axis (pairs); NaN when no pair has ground truth."""
    total = gt.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, confused.sum(axis=-1) / np.maximum(total, 1), np.nan)
