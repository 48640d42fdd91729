"""CLIP score of generated images against their prompts, as an `Evaluator`.

Rows are one per image (prompt id, k, seed, raw cosine, score, cache keys). Scores are cached too: a row of an
earlier samples.jsonl is reused when its image's cache key and the scorer's fingerprint both match, so re-running a
finished run loads no model at all, and changing the CLIP model only rescores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from partbench.metrics.clip_score import ClipScorer, ClipSpec
    from partbench.tasks.base import Prediction
    from partbench.tasks.generation import ImageJob


@dataclass
class PromptScores:
    """Per-prompt sums for the mean over images and the bootstrap over prompts (images nested in prompts)."""

    totals: dict[str, list[float]] = field(default_factory=dict)  # prompt id -> [sum of scores, n images]

    def add(self, prompt_id: str, score: float) -> None:
        entry = self.totals.setdefault(prompt_id, [0.0, 0.0])
        entry[0] += score
        entry[1] += 1


def clip_interval(sums: PromptScores, n_replicates: int, seed: int = 0) -> tuple[float, float] | None:
    """95 % bootstrap interval of the mean score over images, resampling prompts (their images go with them)."""
    import numpy as np
    import scipy.sparse as sp

    from partbench.metrics.statistics import bootstrap_intervals

    if n_replicates <= 0 or not sums.totals:
        return None
    per_prompt = sp.csr_matrix(np.array(list(sums.totals.values()), dtype=np.float64))
    ci = bootstrap_intervals(per_prompt, lambda s: {"clip_score": s[:, 0] / s[:, 1]}, n_replicates, seed)
    return ci.get("clip_score")


def previous_rows(path: Path | None) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows of an earlier samples.jsonl by (image key, scorer fingerprint): reused instead of rescoring."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if path is None or not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            out[(row["key"], row["clip_fingerprint"])] = row
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a damaged row is simply rescored
    return out


class ClipEvaluator:
    convention = "clip-100max0"

    def __init__(self, spec: ClipSpec, fingerprint: str, previous: Path | None = None):
        self.spec, self.fingerprint = spec, fingerprint
        self._previous = previous_rows(previous)
        self._scorer: ClipScorer | None = None
        self.reset()

    def reset(self) -> None:
        self.sums, self.cosines, self.n_truncated, self.rows = PromptScores(), [], 0, 0

    def process(self, batch: Sequence[tuple[int, ImageJob, Prediction]]) -> list[dict[str, Any]]:
        unscored = [(job, p) for _, job, p in batch if p.fresh or (p.key, self.fingerprint) not in self._previous]
        scored: dict[str, dict[str, Any]] = {}
        if unscored:
            if self._scorer is None:
                from partbench.metrics.clip_score import ClipScorer

                self._scorer = ClipScorer(self.spec)
            texts = [job.prompt.prompt for job, _ in unscored]
            cosines = self._scorer.cosines([p.get() for _, p in unscored], texts)
            for (job, _), cos, cut in zip(unscored, cosines, self._scorer.truncated(texts)):
                scored[job.id] = {"cos": float(cos), "truncated": bool(cut)}
        rows = []
        for position, job, p in batch:
            found = scored.get(job.id) or self._previous[(p.key, self.fingerprint)]
            row = self._row(position, job, p.key, found["cos"], found["truncated"])
            self.add(row)
            rows.append(row)
        return rows

    def _row(self, position: int, job: ImageJob, key: str, cos: float, truncated: bool) -> dict[str, Any]:
        from partbench.metrics.clip_score import per_image_score

        return {"index": position, "prompt_id": job.prompt.id, "k": job.k, "seed": job.seed,
                "file": f"predictions/{job.id}.png", "prompt": job.prompt.prompt, "part": job.prompt.part,
                "object": job.prompt.object_class, "cos": cos, "clip_score": float(per_image_score(cos)),
                "truncated": truncated, "key": key, "clip_fingerprint": self.fingerprint}

    def add(self, row: dict[str, Any]) -> None:
        self.sums.add(row["prompt_id"], row["clip_score"])
        self.cosines.append(row["cos"])
        self.n_truncated += row["truncated"]
        self.rows += 1

    def position(self, row: dict[str, Any]) -> int:
        return row["index"]

    def encode(self, row: dict[str, Any]) -> dict[str, Any]:
        return row

    def decode(self, line: dict[str, Any]) -> dict[str, Any]:
        return line

    def summary(self) -> dict[str, Any]:
        return {"n_samples": len(self.sums.totals), "n_images": self.rows}

    def evaluate(self, n_replicates: int) -> dict[str, Any]:
        from partbench.metrics.clip_score import CONVENTION, VARIANTS, clip_variant

        totals = self.sums.totals.values()
        n_images = int(sum(n for _, n in totals))
        score = sum(t for t, _ in totals) / n_images if n_images else None
        ci = clip_interval(self.sums, n_replicates)
        return {
            "metrics": {"clip_score": score},
            "ci95": {"clip_score": list(ci)} if ci else {},
            "higher_is_better": {"clip_score": True},
            "clip_score": {"rule": CONVENTION, "scale": 100, "model": self.spec.model,
                           "pretrained": self.spec.pretrained, "backend": self.spec.backend,
                           "fingerprint": self.fingerprint,
                           "interval": "percentile bootstrap over prompts (images nested in prompts), "
                                       f"{n_replicates} replicates"},
            # Other published aggregates of the same cosines; comparable to their sources only with their models.
            "clip_variants": {name: clip_variant(name, self.cosines) for name in VARIANTS} if self.cosines else {},
            "n_truncated_prompts": self.n_truncated,
        }
