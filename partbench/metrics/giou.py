"""Grounded IoU of one record: which predicted mask is scored against which ground-truth mask, and each pair's IoU.

A re-statement of Partonomy's evaluator (`src/evaluation/evaluators/masks.py`, `gmIoU` and `compute_iou`), pure
functions over boolean masks (the reductions over a dataset are in `partbench.metrics.giou_reduce`):

- IoU = |P ∧ G| / |P ∨ G|, and 1.0 when the union is empty (`empty_policy='one'`, upstream's default).
- Matching modes: `paired` (prediction i with ground truth i, upstream's default and partbench's headline; Python's
  `zip`, so the shorter list wins), `greedy` (all pairs by IoU, highest first, row-major order among ties, each row
  and column used once), `hungarian` (`scipy.optimize.linear_sum_assignment(..., maximize=True)`) and `union` (the OR
  of every prediction against the OR of every ground truth).

Two conventions for a record with fewer (or no) predicted masks than ground-truth parts:

- `partonomy` reproduces upstream: the missing masks are simply not scored (truncation; unmatched ground truths of
  greedy/hungarian are not scored either), and a record with no predicted mask at all is not scored (upstream skips
  it when the model returns none, and `gmIoU` cannot take an empty list).
- `strict`: every ground-truth mask left without a prediction scores IoU 0 (its pixels count in the cIoU union), and
  a record with no predicted mask scores 0 in every mode.

Extra predicted masks (more than ground-truth parts) are ignored under both conventions, as upstream ignores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from partbench.errors import PartbenchError

MODES = ("paired", "greedy", "hungarian", "union")
HEADLINE_MODE = "paired"
CONVENTIONS = ("partonomy", "strict")


@dataclass(frozen=True)
class MaskPair:
    """One scored pair: pixel counts and IoU (a missing prediction under `strict`: intersection 0, IoU 0)."""

    intersection: int
    union: int
    iou: float


@dataclass
class RecordMatch:
    """The pairs each matching mode scores for one record; `scored` False when the record is not scored at all."""

    scored: bool
    pairs: dict[str, list[MaskPair]] = field(default_factory=dict)

    def mean_iou(self, mode: str) -> float:
        """The record's gIoU in `mode`: the mean IoU of its pairs (upstream's per-image `mean_iou`)."""
        pairs = self.pairs[mode]
        return float(np.mean([p.iou for p in pairs])) if pairs else float("nan")


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> MaskPair:
    """IoU of two boolean masks of one shape; 1.0 when both are empty (nothing to find, nothing predicted)."""
    inter = int(np.count_nonzero(np.logical_and(pred, gt)))
    union = int(np.count_nonzero(np.logical_or(pred, gt)))
    return MaskPair(inter, union, inter / union if union else 1.0)


def pair_table(preds: np.ndarray, gts: np.ndarray) -> list[list[MaskPair]]:
    """`table[i][j]`: prediction i against ground truth j (upstream's `compute_iou_matrix`)."""
    return [[mask_iou(p, g) for g in gts] for p in preds]


def greedy_pairs(table: list[list[MaskPair]]) -> list[tuple[int, int]]:
    """(row, column) pairs, highest IoU first, each row and column once. Python's sort is stable, so equal IoUs keep
    row-major order, as upstream's `sorted(candidate_dict.items(), ..., reverse=True)` does."""
    candidates = [((i, j), table[i][j].iou) for i in range(len(table)) for j in range(len(table[i]))]
    chosen, rows, cols = [], set(), set()
    for (i, j), _ in sorted(candidates, key=lambda item: item[1], reverse=True):
        if i not in rows and j not in cols:
            chosen.append((i, j))
            rows.add(i)
            cols.add(j)
    return chosen


def hungarian_pairs(table: list[list[MaskPair]]) -> list[tuple[int, int]]:
    """The assignment maximising the summed IoU, as `scipy.optimize.linear_sum_assignment(maximize=True)` gives it."""
    from scipy.optimize import linear_sum_assignment

    if not table or not table[0]:
        return []
    matrix = np.array([[p.iou for p in row] for row in table], dtype=np.float64)
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols)]


def match_record(preds: np.ndarray, gts: np.ndarray, convention: str = "partonomy",
                 modes: Sequence[str] = MODES) -> RecordMatch:
    """The pairs every mode in `modes` scores for one record.

    `preds` is (P, H, W) and `gts` (G, H, W), boolean, in the order of the correct answer's parts (`gts` non-empty).
    """
    if convention not in CONVENTIONS:
        raise PartbenchError(f"Unknown gIoU convention {convention!r}; expected one of {', '.join(CONVENTIONS)}.")
    preds, gts = np.asarray(preds, dtype=bool), np.asarray(gts, dtype=bool)
    if gts.ndim != 3 or gts.shape[0] == 0:
        raise ValueError(f"ground truth must be (G>0, H, W), got {gts.shape}")
    if preds.ndim != 3 or preds.shape[1:] != gts.shape[1:]:
        raise ValueError(f"predictions {preds.shape} do not match the ground truth {gts.shape}")
    strict = convention == "strict"
    if preds.shape[0] == 0:
        if not strict:
            return RecordMatch(scored=False)
        return RecordMatch(True, {m: _zeros(gts, range(len(gts)) if m != "union" else None) for m in modes})
    table = pair_table(preds, gts) if set(modes) & {"greedy", "hungarian"} else None
    out: dict[str, list[MaskPair]] = {}
    for mode in modes:
        if mode == "paired":
            n = min(len(preds), len(gts))
            pairs = [mask_iou(preds[i], gts[i]) for i in range(n)]
            out[mode] = pairs + (_zeros(gts, range(n, len(gts))) if strict else [])
        elif mode in ("greedy", "hungarian"):
            assert table is not None
            chosen = greedy_pairs(table) if mode == "greedy" else hungarian_pairs(table)
            pairs = [table[i][j] for i, j in chosen]
            left = sorted(set(range(len(gts))) - {j for _, j in chosen})
            out[mode] = pairs + (_zeros(gts, left) if strict else [])
        elif mode == "union":
            out[mode] = [mask_iou(preds.any(axis=0), gts.any(axis=0))]
        else:
            raise PartbenchError(f"Unknown matching mode {mode!r}; expected one of {', '.join(MODES)}.")
    return RecordMatch(True, out)


def _zeros(gts: np.ndarray, indices: range | list[int] | None) -> list[MaskPair]:
    """IoU-0 pairs for ground truths without a prediction (`strict`); None: the union of all of them."""
    if indices is None:
        return [MaskPair(0, int(np.count_nonzero(gts.any(axis=0))), 0.0)]
    return [MaskPair(0, int(np.count_nonzero(gts[j])), 0.0) for j in indices]
