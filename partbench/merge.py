"""`partbench merge`: combine the shards of a run (`partbench run --shard K/N`) into its results.

Each shard left `shards/K-of-N.jsonl` (its per-sample confusion rows, in suite order) and `shards/K-of-N.json` (what
produced it). Merging checks that all N shards are there and agree, streams the rows back into suite order with a
k-way merge, and computes results exactly as a single process would. No data is read: shards carry everything.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError
from partbench.metrics.partseg import SampleScore
from partbench.paths import AtomicLineWriter, read_json
from partbench.scoring import new_scorer
from partbench.store import IDENTITY_FIELDS, RunDir
from partbench.suites import load_suite

# Shard metadata that must agree across shards for them to be parts of one run.
MUST_AGREE = ("suite", "split", "method", "method_args", "n_refs", "convention", "skipped")


def merge_run(run_path: Path, n_replicates: int = 1000, convention: str | None = None) -> dict[str, Any]:
    from partbench.metrics.conventions import check_convention
    from partbench.runner import finish

    run_path = Path(run_path)
    config = read_json(run_path / "config.json")
    metas = {p: read_json(p) for p in sorted((run_path / "shards").glob("*-of-*.json"))}
    if not metas:
        raise PartbenchError(f"{run_path}: no shards to merge (expected shards/K-of-N.json from `run --shard K/N`).")
    counts = {m["shard"][1] for m in metas.values()}
    if len(counts) != 1:
        raise PartbenchError(f"{run_path}/shards: shards of different splittings {sorted(counts)}; remove the stale ones.")
    n = counts.pop()
    present = {m["shard"][0] for m in metas.values()}
    missing = sorted(set(range(n)) - present)
    if missing:
        raise PartbenchError(f"{run_path}/shards: shards {', '.join(f'{k}/{n}' for k in missing)} are missing; "
                             f"run them with `partbench run ... --shard K/{n}` before merging.")
    first_path, first = next(iter(metas.items()))
    for path, meta in metas.items():
        diff = [k for k in MUST_AGREE if meta.get(k) != first.get(k)]
        if diff:
            raise PartbenchError(f"{path} disagrees with {first_path} on {', '.join(diff)}: not shards of one run.")

    suite = load_suite(first["suite"])
    if config.get("suite_version") != suite.version:
        raise PartbenchError(f"{run_path}: shards were made for suite {suite.name} v{config.get('suite_version')}, "
                             f"the registered suite is v{suite.version}; re-run them.")
    run_dir = RunDir(run_path, {k: config[k] for k in IDENTITY_FIELDS})
    streams = [_rows(p.with_suffix(".jsonl")) for p in metas]
    if first.get("task") == "generation":
        from partbench.generation import merge_generation

        rows = list(heapq.merge(*streams, key=lambda r: r["index"]))
        _check_count(run_path, len(rows), metas)
        return merge_generation(run_dir, suite, first, rows, n_replicates)
    header = dict(first)
    header["convention"] = check_convention(convention or first["convention"])
    header["skipped"] = dict(first["skipped"]) | {
        "empty_ground_truth": sum(m["empty_ground_truth"] for m in metas.values())}
    scorer = new_scorer(suite)
    with AtomicLineWriter(run_dir.samples_path) as out:
        for row in heapq.merge(*streams, key=lambda r: r["index"]):
            scorer.add(SampleScore.from_json(row))
            out.write(row)
    _check_count(run_path, len(scorer.samples), metas)
    return finish(run_dir, suite, header, scorer, n_replicates)


def _check_count(run_path: Path, found: int, metas: dict[Path, dict[str, Any]]) -> None:
    expected = sum(m["n_rows"] for m in metas.values())
    if found != expected:
        raise PartbenchError(f"{run_path}/shards: found {found} rows, the shards announce {expected}; re-run them.")


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    raise PartbenchError(f"{path}:{line_no}: not a JSON row; re-run this shard.") from None
    except FileNotFoundError:
        raise PartbenchError(f"{path}: missing (its .json metadata exists); re-run this shard.") from None
