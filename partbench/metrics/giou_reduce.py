"""From per-record pairs to dataset numbers: macro and micro gIoU (Partonomy's `IoUEvaluator` reductions), partbench's
cIoU, multiple-choice accuracy, per question type, with bootstrap intervals over records.

- **macro gIoU** = mean over scored records of the record's mean pair IoU (upstream `Reduction.MACRO`);
- **micro gIoU** = mean over every scored pair of the dataset (upstream `Reduction.MICRO`);
- **cIoU** is *not* in Partonomy's evaluator: partbench defines it as Σ intersections / Σ unions over every scored
  pair (the LISA-style cumulative IoU, per mask instead of per image);
- **MC accuracy** = share of records whose chosen answer is the correct one, over the records that carry a choice
  (only predictions imported from another codebase do).

All in percent. Intervals resample records (within question types) with `partbench.metrics.statistics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from partbench.metrics.giou import HEADLINE_MODE, MODES, RecordMatch

METRICS = ("giou_macro", "giou_micro", "ciou")
# Columns of one group (all records, or one question type) in the per-record matrix the bootstrap resamples.
_COLUMNS = ("record_iou", "records", "pair_iou", "pairs", "intersection", "union", "mc_correct", "mc_records")


@dataclass
class RecordScore:
    """One record's row (samples.jsonl): its pairs per matching mode as [intersection, union, IoU]."""

    index: int
    id: str
    question_type: str
    n_gt: int
    n_pred: int
    scored: bool
    pairs: dict[str, list[list[float]]] = field(default_factory=dict)
    mc_correct: bool | None = None

    @classmethod
    def from_match(cls, index: int, sample_id: str, question_type: str, n_gt: int, n_pred: int, match: RecordMatch,
                   mc_correct: bool | None = None) -> RecordScore:
        pairs = {m: [[p.intersection, p.union, p.iou] for p in ps] for m, ps in match.pairs.items()}
        return cls(index, sample_id, question_type, n_gt, n_pred, match.scored, pairs, mc_correct)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "question_type": self.question_type, "n_gt": self.n_gt,
                "n_pred": self.n_pred, "scored": self.scored, "pairs": self.pairs, "mc_correct": self.mc_correct}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RecordScore:
        return cls(int(d["index"]), str(d["id"]), str(d["question_type"]), int(d["n_gt"]), int(d["n_pred"]),
                   bool(d["scored"]), {str(k): [list(p) for p in v] for k, v in d["pairs"].items()},
                   d.get("mc_correct"))


def record_columns(row: RecordScore, mode: str) -> np.ndarray:
    """The row's contribution to one group's sums (see `_COLUMNS`)."""
    out = np.zeros(len(_COLUMNS))
    if row.scored and row.pairs.get(mode):
        pairs = np.asarray(row.pairs[mode], dtype=np.float64)
        out[:6] = [pairs[:, 2].mean(), 1, pairs[:, 2].sum(), len(pairs), pairs[:, 0].sum(), pairs[:, 1].sum()]
    if row.mc_correct is not None:
        out[6:] = [float(row.mc_correct), 1]
    return out


def metrics_from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
    """(k, 8) sums of one group -> macro, micro, cIoU and MC accuracy in percent (NaN where undefined)."""
    sums = np.atleast_2d(sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"giou_macro": 100 * sums[:, 0] / sums[:, 1], "giou_micro": 100 * sums[:, 2] / sums[:, 3],
                "ciou": 100 * sums[:, 4] / sums[:, 5], "mc_accuracy": 100 * sums[:, 6] / sums[:, 7]}


def ordered_types(rows: Sequence[RecordScore], order: Sequence[str] = ()) -> list[str]:
    """Question types present, in `order` first (the benchmark's own order), then alphabetically."""
    present = {r.question_type for r in rows}
    return [t for t in order if t in present] + sorted(present - set(order))


def summarize(rows: Sequence[RecordScore], mode: str = HEADLINE_MODE, type_order: Sequence[str] = (),
              n_replicates: int = 0, seed: int = 0) -> dict[str, Any]:
    """`metrics` (flat: overall, then `<metric>_<type>`), `ci95` for them, and `by_question_type` in one mode."""
    types = ordered_types(rows, type_order)
    groups = [None, *types]
    matrix = np.zeros((len(rows), len(groups) * len(_COLUMNS)))
    for r_i, row in enumerate(rows):
        cols = record_columns(row, mode)
        matrix[r_i, :len(_COLUMNS)] = cols
        g = groups.index(row.question_type)
        matrix[r_i, g * len(_COLUMNS):(g + 1) * len(_COLUMNS)] = cols

    def statistic(sums: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for g, name in enumerate(groups):
            part = metrics_from_sums(sums[:, g * len(_COLUMNS):(g + 1) * len(_COLUMNS)])
            out |= {(k if name is None else f"{k}_{name}"): v for k, v in part.items()}
        return out

    totals = matrix.sum(axis=0)
    values = {k: _number(v[0]) for k, v in statistic(totals[None, :]).items()}
    names = [*METRICS, *(("mc_accuracy",) if any(r.mc_correct is not None for r in rows) else ())]
    intervals: dict[str, Any] = {}
    if n_replicates and rows:
        import scipy.sparse as sp

        from partbench.metrics.statistics import bootstrap_intervals, strata_codes

        intervals = bootstrap_intervals(sp.csr_matrix(matrix), statistic, n_replicates=n_replicates, seed=seed,
                                        strata=strata_codes([r.question_type for r in rows]))

    def ci(key: str) -> list[float] | None:
        return None if intervals.get(key) is None else [float(x) for x in intervals[key]]

    # Flat keys (what tables show): every metric overall, and per question type the macro gIoU (the paper's
    # per-type number) and MC accuracy; per-type micro gIoU and cIoU are in `by_question_type`.
    flat = names + [f"{m}_{t}" for t in types for m in names if m in ("giou_macro", "mc_accuracy")]
    metrics = {k: values[k] for k in flat}
    ci95 = {k: ci(k) for k in flat} if intervals else {}
    by_type = {}
    for t in types:
        members = [r for r in rows if r.question_type == t]
        by_type[t] = {m: values[f"{m}_{t}"] for m in names}
        by_type[t] |= {"n_samples": sum(r.scored for r in members), "n_records": len(members),
                       "n_masks": sum(len(r.pairs.get(mode, ())) for r in members if r.scored)}
        if intervals:
            by_type[t]["ci95"] = {m: ci(f"{m}_{t}") for m in names}
    return {"metrics": metrics, "ci95": ci95, "by_question_type": by_type}


def by_matching(rows: Sequence[RecordScore], type_order: Sequence[str] = ()) -> dict[str, Any]:
    """Every matching mode's overall and per-type numbers (no intervals: the headline mode has them)."""
    out = {}
    for mode in MODES:
        if not any(mode in r.pairs for r in rows):
            continue
        done = summarize(rows, mode, type_order)
        out[mode] = {k: done["metrics"].get(k) for k in METRICS}
        out[mode]["by_question_type"] = {t: {k: v[k] for k in METRICS} for t, v in done["by_question_type"].items()}
    return out


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
