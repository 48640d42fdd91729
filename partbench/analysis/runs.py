"""A finished run read back from disk: its results, its per-sample rows and where its predictions are.

A run is a `partbench run` folder (`results.json`, `samples.jsonl`, `predictions/`) or what `partbench score` wrote
(`runs/<suite>/imported-<name>/`, or `--output FILE` with `FILE.samples.jsonl` beside it). Every problem is a
`PartbenchError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError


@dataclass
class RunData:
    """What the analyses need of one run; `rows` (samples.jsonl) are read on first use."""

    path: Path  # the run folder (or the folder of a results file named directly)
    results_path: Path
    samples_path: Path
    results: dict[str, Any]
    _rows: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.results.get("run_name") or self.path.name)

    @property
    def suite(self) -> str:
        return str(self.results["suite"])

    @property
    def split(self) -> str | None:
        return self.results.get("split")

    @property
    def suite_version(self) -> str | None:
        v = self.results.get("suite_version")
        return None if v is None else str(v)

    @property
    def task(self) -> str | None:
        return self.results.get("task")

    @property
    def convention(self) -> str:
        return str(self.results.get("convention") or "ovparts")

    @property
    def data_fingerprint(self) -> str | None:
        data = self.results.get("data")
        value = data.get("fingerprint") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    @property
    def predictions(self) -> Path:
        return self.path / "predictions"

    @property
    def rows(self) -> list[dict[str, Any]]:
        """samples.jsonl's rows in suite order (by `index`)."""
        if self._rows is None:
            self._rows = sorted(_read_rows(self.samples_path), key=lambda r: r["index"])
        return self._rows

    def sample_ids(self) -> list[str]:
        """Part segmentation rows carry `id`; generation rows one image `k` of a prompt."""
        return [str(r["id"]) if "id" in r else f"{r.get('prompt_id')}/{r.get('k')}" for r in self.rows]


def load_run(path: Path) -> RunData:
    """The run at `path`: a run folder or its results file."""
    from partbench.leaderboard.results import load_result

    path = Path(path)
    if path.is_dir():
        results_path = path / "results.json"
        if not results_path.is_file():
            raise PartbenchError(f"{path}: no results.json in this folder (not a finished run, or not scored yet).")
        samples_path = path / "samples.jsonl"
    elif path.is_file():
        results_path = path
        beside = path.with_name(path.stem + ".samples.jsonl")  # `partbench score --output FILE`
        samples_path = path.parent / "samples.jsonl" if path.name == "results.json" else beside
    else:
        raise PartbenchError(f"{path}: no such run folder or results file.")
    results = load_result(results_path)
    return RunData(path=results_path.parent, results_path=results_path, samples_path=samples_path, results=results)


def _read_rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PartbenchError(f"{path}: not found; the run's per-sample rows are needed (re-run it to write them)."
                             ) from None
    except OSError as e:
        raise PartbenchError(f"{path}: cannot read ({e.strerror or e}).") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise PartbenchError(f"{path}, line {n}: not valid JSON ({e.msg}).") from None
        if not isinstance(row, dict) or not isinstance(row.get("index"), int):
            raise PartbenchError(f"{path}, line {n}: a per-sample row needs an integer 'index'.")
        yield row


def object_of_sample(row: dict[str, Any]) -> str | None:
    """A part-segmentation row's object class: its `object` field, else the `<image>__<object>` id's suffix."""
    if row.get("object"):
        return str(row["object"])
    _, sep, obj = str(row["id"]).rpartition("__")
    return obj if sep else None


def check_same_samples(runs: list[RunData], allow_other_data: bool = False) -> list[str]:
    """Refuse runs that cannot be compared sample by sample: another suite, split or suite version, other sample ids,
    or (unless `allow_other_data`) other data (`data.fingerprint`). Returns warnings for what is let through."""
    first = runs[0]
    for run in runs[1:]:
        for what, a, b in (("suite", first.suite, run.suite), ("split", first.split, run.split),
                           ("suite version", first.suite_version, run.suite_version),
                           ("--gt-resize", first.results.get("gt_resize"), run.results.get("gt_resize"))):
            if a != b:
                raise PartbenchError(f"{run.results_path}: {what} {b!r}, but {first.results_path} has {a!r}; "
                                     "only runs of the same suite, split, version and ground truth (native or the "
                                     "same --gt-resize) can be compared.")
    ids = first.sample_ids()
    for run in runs[1:]:
        other = run.sample_ids()
        if other != ids:
            only_a, only_b = sorted(set(ids) - set(other)), sorted(set(other) - set(ids))
            detail = "; ".join(filter(None, [
                f"{len(only_a)} only in {first.name} (e.g. {', '.join(only_a[:3])})" if only_a else "",
                f"{len(only_b)} only in {run.name} (e.g. {', '.join(only_b[:3])})" if only_b else "",
                "the same ids in another order" if not only_a and not only_b else ""]))
            raise PartbenchError(f"{run.samples_path}: other samples than {first.samples_path} ({detail}); a paired "
                                 "comparison needs runs over the same samples (same --limit, same data).")
    warnings = []
    known = {run.data_fingerprint for run in runs if run.data_fingerprint}
    listed = ", ".join(f"{run.name} {(run.data_fingerprint or 'unknown')[:8]}" for run in runs)
    if len(known) > 1:
        if not allow_other_data:
            raise PartbenchError(f"the runs were scored on other data (data fingerprints: {listed}): the same sample "
                                 "ids may hold other images or annotations. Re-run them on the same data, or pass "
                                 "--allow-other-data to compare anyway (the output is then marked).")
        warnings.append(f"other data: the runs' data fingerprints differ ({listed}).")
    elif known and any(run.data_fingerprint is None for run in runs):
        warnings.append(f"some runs do not record their data fingerprint ({listed}); the data could not be checked.")
    return warnings
