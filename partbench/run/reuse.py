"""Per-sample rows a finished run can keep: a re-run whose predictions are cached reads no annotation file.

Each samples.jsonl line of `partbench run` carries a `row_key`: the prediction's cache key (method, arguments,
suite version, sample, seed and the content of the sample's input files) combined with what the evaluator is
configured with and the row schema. A line whose key is still the current one was computed from the same ground
truth and the same prediction, so its row is reused as it is, in its current position. Conventions only aggregate
rows, so a change of `--convention` keeps them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from partbench.store.run_dir import canonical_json

ROW_SCHEMA = 1


def row_key(prediction_key: str, evaluator_config: dict[str, Any]) -> str:
    scoring = {k: v for k, v in evaluator_config.items() if k != "convention"}
    payload = {"prediction": prediction_key, "evaluator": scoring, "row_schema": ROW_SCHEMA}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def reusable_rows(samples_path: Path, wanted: dict[str, int]) -> dict[int, dict[str, Any]]:
    """position -> the line of samples.jsonl whose `row_key` is `k`, for each `k: position` in `wanted` found there.

    An unreadable file or line reuses nothing from it: those rows are computed again."""
    found: dict[int, dict[str, Any]] = {}
    if not wanted:
        return found
    try:
        with open(samples_path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                position = wanted.get(row.get("row_key")) if isinstance(row, dict) else None
                if position is not None:
                    found[position] = KeptLine(row, line) if row.get("index") == position else \
                        row | {"index": position}
    except OSError:
        return {}
    return found


class KeptLine(dict):
    """A reused samples.jsonl row still at its position: written back as the very line it was read from."""

    def __init__(self, row: dict[str, Any], line: str):
        super().__init__(row)
        self.line = line if line.endswith("\n") else line + "\n"


def in_order(positions: Iterable[int], reused: dict[int, Any], loaded: Iterator[Any], size: int
             ) -> Iterator[tuple[str, Any]]:
    """("reused", line) and ("batch", [loaded entries]) in position order; batches hold at most `size` consecutive
    positions that are not reused, taken from `loaded` (which yields exactly those, in order)."""
    batch: list[Any] = []
    for position in positions:
        if position in reused:
            if batch:
                yield "batch", batch
                batch = []
            yield "reused", reused[position]
            continue
        batch.append(next(loaded))
        if len(batch) == size:
            yield "batch", batch
            batch = []
    if batch:
        yield "batch", batch
