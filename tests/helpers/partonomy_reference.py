"""An independent re-statement of Partonomy's mask evaluator (`src/evaluation/evaluators/masks.py` at AnselBlume/
partonomy), written from its source for the golden tests: `gmIoU` per image, and `IoUEvaluator`'s macro and micro
reductions. It shares no code with partbench.metrics.giou."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def compute_iou(mask1: np.ndarray, mask2: np.ndarray) -> float:
    union = np.sum(np.logical_or(mask1, mask2))
    if union == 0:
        return 1.0  # empty_policy='one'
    return float(np.sum(np.logical_and(mask1, mask2)) / union)


def gmiou(predictions: np.ndarray, targets: np.ndarray, strategy: str) -> tuple[list[float], float]:
    """(paired IoUs, per-image mean), as upstream's `gmIoU`."""
    if strategy == "paired":
        ious = [compute_iou(p, t) for p, t in zip(predictions, targets)]
    elif strategy in ("greedy", "hungarian"):
        matrix = np.zeros((len(predictions), len(targets)))
        for i, p in enumerate(predictions):
            for j, t in enumerate(targets):
                matrix[i, j] = compute_iou(p, t)
        if strategy == "greedy":
            candidates = {(i, j): matrix[i, j] for i in range(matrix.shape[0]) for j in range(matrix.shape[1])}
            ious, rows, cols = [], set(), set()
            for (i, j), iou in sorted(candidates.items(), key=lambda item: item[1], reverse=True):
                if i in rows or j in cols:
                    continue
                ious.append(float(iou))
                rows.add(i)
                cols.add(j)
        else:
            r, c = linear_sum_assignment(np.nan_to_num(matrix, nan=-1.0), maximize=True)
            ious = [float(matrix[i, j]) for i, j in zip(r, c)]
    elif strategy == "union":
        ious = [compute_iou(np.any(predictions, axis=0), np.any(targets, axis=0))]
    else:
        raise ValueError(strategy)
    return ious, float(np.mean(ious))


def evaluate(records: list[tuple[np.ndarray, np.ndarray]], strategy: str) -> dict[str, float]:
    """Macro and micro gIoU x100 over (predictions, targets) records, as two `IoUEvaluator`s (MACRO, MICRO) would
    summarize them; records without predictions are skipped, as `validate_partonomy.py` skips them."""
    macro, micro = [], []
    for preds, gts in records:
        if len(preds) == 0:
            continue
        ious, mean = gmiou(preds, gts, strategy)
        macro.append(mean)
        micro.extend(ious)
    return {"giou_macro": 100 * float(np.mean(macro)), "giou_micro": 100 * float(np.mean(micro))}
