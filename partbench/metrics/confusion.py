"""Confusion-matrix accumulation, as every OVPS evaluator does it (see docs/suites.md), plus a "no prediction" row.

`conf[pred, gt]` has shape (C+1, C): rows are predicted classes and, last, "no prediction" (the ignore value in a
prediction); columns are ground-truth classes. Pixels whose ground truth is ignored are not counted: the official
evaluators drop that column anyway, so skipping those pixels changes nothing and saves most of the work.

The official code also drops the ignore *row*. It never matters there, because an argmax always predicts a class on
labelled pixels. partbench keeps the row so that a prediction which abstains on labelled pixels is charged a false
negative for each of them instead of having those pixels silently excluded.
"""

from __future__ import annotations

import numpy as np

from partbench.errors import PartbenchError


def confusion_counts(pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_label: int,
                     where: str = "prediction") -> np.ndarray:
    """The (C+1)xC confusion matrix `conf[pred, gt]` of one prediction, over pixels whose ground truth is labelled.

    Raises a `PartbenchError` naming `where` on a size mismatch or an out-of-range predicted label.
    """
    if pred.shape != target.shape:
        raise PartbenchError(
            f"{where}: prediction is {pred.shape[1]}x{pred.shape[0]} (WxH) but the ground truth is "
            f"{target.shape[1]}x{target.shape[0]}."
        )
    valid = target != ignore_label
    g = target[valid].astype(np.int64)
    p = pred[valid].astype(np.int64)
    bad = (p != ignore_label) & ((p < 0) | (p >= num_classes))
    if bad.any():
        raise PartbenchError(
            f"{where}: predicted label {int(p[bad][0])} is out of range ({num_classes} classes; "
            f"{ignore_label} = no prediction)."
        )
    p[p == ignore_label] = num_classes
    counts = np.bincount(num_classes * p + g, minlength=(num_classes + 1) * num_classes)
    return counts.reshape(num_classes + 1, num_classes)


def per_class_counts(conf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tp, pos_gt, pos_pred) per class from `conf[..., pred, gt]` (see docs/suites.md); leading dims are kept.

    Accepts the (C+1)xC matrix above (a "no prediction" row counts towards pos_gt only) or a square CxC one.
    """
    c = conf.shape[-1]
    predicted = conf[..., :c, :]
    return np.diagonal(predicted, axis1=-2, axis2=-1), conf.sum(axis=-2), predicted.sum(axis=-1)
