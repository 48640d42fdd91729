"""Scores part edits (`partbench.metrics.edit_fidelity`) and reduces them: each metric is the mean over the samples
where it is defined, with a 95 % percentile bootstrap interval that resamples samples (unstratified: the metrics are
plain means, with no class composition to keep fixed, and PartEdit-Real's 13 samples over 7 part kinds would leave
strata of one sample, whose resampling adds no spread).

Rows (samples.jsonl) carry every per-sample number, the PIE-Bench-style variants included, so a later change of
which number is the headline needs no re-run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from partbench.data.part_edit import EditSample
    from partbench.tasks.base import Prediction

CONVENTION = "region"  # statistics over the background region itself (docs/partedit.md); the variant is reported too
# metric key -> (per-sample field, higher is better)
HEADLINE = {"alpha_clip_fg": ("alpha_clip_fg", True), "alpha_clip_bg": ("alpha_clip_bg", True),
            "masked_clip_fg": ("masked_clip_fg", True), "psnr_bg": ("psnr_bg", True), "ssim_bg": ("ssim_bg", True),
            "edit_error_fg": ("edit_error_fg", False)}
VARIANTS = {"masked-image": {"psnr_bg": "psnr_masked", "ssim_bg": "ssim_masked"}}
UNITS = {"alpha_clip_fg": "100*max(cos, 0): Alpha-CLIP, edited image with alpha = part, vs the edit prompt",
         "alpha_clip_bg": "100*max(cos, 0): Alpha-CLIP, source vs edited image, both with alpha = background",
         "masked_clip_fg": "100*max(cos, 0): CLIP on the part's crop, the rest grey, vs the edit prompt",
         "psnr_bg": "dB, capped at 100 (an exact copy)", "ssim_bg": "SSIM x 100 (identical = 100)",
         "edit_error_fg": "mean absolute error to the expected edit inside the part, 0-255 levels (lower is better)"}


@dataclass
class EditRow:
    """One sample's row: where it is, what was edited, and its scores (`EditScores.to_json()`)."""

    index: int
    id: str
    part: str
    class_name: str
    scores: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "part": self.part, "class_name": self.class_name} | self.scores

    @classmethod
    def from_json(cls, line: dict[str, Any]) -> EditRow:
        head = ("index", "id", "part", "class_name")
        return cls(int(line["index"]), str(line["id"]), str(line["part"]), str(line["class_name"]),
                   {k: v for k, v in line.items() if k not in head and k != "row_key"})


def _columns(rows: Sequence[EditRow], fields: Sequence[str]) -> np.ndarray:
    """(N, 2·F): per field, the value (0 where undefined) and whether it is defined."""
    out = np.zeros((len(rows), 2 * len(fields)))
    for i, row in enumerate(rows):
        for j, name in enumerate(fields):
            value = row.scores.get(name)
            if value is not None:
                out[i, 2 * j:2 * j + 2] = (float(value), 1.0)
    return out


def means(rows: Sequence[EditRow], fields: Sequence[str], n_replicates: int = 0, seed: int = 0
          ) -> tuple[dict[str, float | None], dict[str, list[float]]]:
    """(mean of each field over the rows defining it, its 95 % bootstrap interval over rows)."""
    matrix = _columns(rows, fields)

    def statistic(sums: np.ndarray) -> dict[str, np.ndarray]:
        sums = np.atleast_2d(sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {name: sums[:, 2 * j] / sums[:, 2 * j + 1] for j, name in enumerate(fields)}

    totals = statistic(matrix.sum(axis=0))
    values = {k: (float(v[0]) if np.isfinite(v[0]) else None) for k, v in totals.items()}
    intervals: dict[str, list[float]] = {}
    if n_replicates and rows:
        import scipy.sparse as sp

        from partbench.metrics.statistics import bootstrap_intervals

        found = bootstrap_intervals(sp.csr_matrix(matrix), statistic, n_replicates=n_replicates, seed=seed)
        intervals = {k: [float(x) for x in v] for k, v in found.items() if v is not None and values.get(k) is not None}
    return values, intervals


class EditEvaluator:
    """Rows are `EditRow`s; see the module docstring."""

    def __init__(self, convention: str = CONVENTION, clip: dict[str, Any] | None = None):
        from partbench.errors import PartbenchError
        from partbench.tasks.edit_clip import EditClipScorer

        if convention != CONVENTION:
            raise PartbenchError(f"Part-editing suites are scored with convention {CONVENTION!r}, not "
                                 f"{convention!r} (the masked-image variant is always reported beside it, under "
                                 f"metric_variants).")
        self.convention = convention
        self.clip = EditClipScorer(clip or {})
        self.reset()

    def reset(self) -> None:
        self.rows: list[EditRow] = []

    def process(self, batch: Sequence[tuple[int, EditSample, Prediction]]) -> list[EditRow]:
        from partbench.metrics.edit_fidelity import score_edit

        out = []
        for position, sample, prediction in batch:
            scores = score_edit(sample.image, prediction.get(), sample.mask, sample.expected)
            out.append(EditRow(position, sample.id, sample.record.part, sample.record.class_name, scores.to_json()))
        if self.clip.active and batch:  # one batched pass of the CLIP models over the batch
            clip_scores = self.clip.score([s for _, s, _ in batch], [p.get() for _, _, p in batch])
            for row, extra in zip(out, clip_scores):
                row.scores |= extra
        self.rows.extend(out)
        return out

    def add(self, row: EditRow) -> None:
        self.rows.append(row)

    def position(self, row: EditRow) -> int:
        return row.index

    def encode(self, row: EditRow) -> dict[str, Any]:
        return row.to_json()

    def decode(self, line: dict[str, Any]) -> EditRow:
        return EditRow.from_json(line)

    def summary(self) -> dict[str, Any]:
        return {"n_samples": len(self.rows),
                "n_with_expected_edit": sum(r.scores.get("edit_error_fg") is not None for r in self.rows)}

    def evaluate(self, n_replicates: int) -> dict[str, Any]:
        rows = sorted(self.rows, key=lambda r: r.index)
        keys = [k for k, (f, _) in HEADLINE.items() if any(r.scores.get(f) is not None for r in rows)]
        values, ci = means(rows, [HEADLINE[k][0] for k in keys], n_replicates)
        metrics = {k: values[HEADLINE[k][0]] for k in keys}
        variants = {}
        for name, fields in VARIANTS.items():
            found, _ = means(rows, list(fields.values()))
            variants[name] = {k: found[f] for k, f in fields.items()}
        by_part = {}
        for part in sorted({r.part for r in rows}):
            members = [r for r in rows if r.part == part]
            found, _ = means(members, [HEADLINE[k][0] for k in keys])
            by_part[part] = {k: found[HEADLINE[k][0]] for k in keys} | {"n_samples": len(members)}
        return {"metrics": metrics, "ci95": {k: ci[HEADLINE[k][0]] for k in keys if HEADLINE[k][0] in ci},
                "higher_is_better": {k: HEADLINE[k][1] for k in keys},
                "units": {k: UNITS[k] for k in keys}, "metric_variants": variants, "by_part": by_part,
                "metric_notes": dict(self.clip.config.get("notes") or {}),
                "interval": f"percentile bootstrap over samples, {n_replicates} replicates"}
