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
from partbench.run.results import results_document
from partbench.store.atomic import AtomicLineWriter, read_json
from partbench.store.run_dir import IDENTITY_FIELDS, RunDir
from partbench.suites import Suite, load_suite, suite_names
from partbench.tasks.base import task_kind_for

# Shard metadata that must agree across shards for them to be parts of one run.
MUST_AGREE = ("suite", "split", "method", "method_args", "n_refs", "convention", "skipped", "evaluator")


def merge_run(run_path: Path, n_replicates: int = 1000, convention: str | None = None) -> dict[str, Any]:
    if n_replicates < 0:
        raise PartbenchError(f"--bootstrap must be at least 0, got {n_replicates}.")
    run_path = Path(run_path)
    config = read_json(run_path / "config.json")
    metas = {p: read_json(p) for p in sorted((run_path / "shards").glob("*-of-*.json"))}
    if not metas:
        raise PartbenchError(f"{run_path}: no shards to merge (expected shards/K-of-N.json from `run --shard K/N`).")
    counts = {m["shard"][1] for m in metas.values()}
    if len(counts) != 1:
        raise PartbenchError(
            f"{run_path}/shards: shards of different splittings {sorted(counts)}; remove the stale ones.")
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
        if "evaluator" not in meta:
            raise PartbenchError(f"{path}: written by an older partbench; re-run this shard.")
        if _data_fingerprint(meta) != _data_fingerprint(first):
            raise PartbenchError(f"{path} was scored on other data than {first_path} (the data root changed between "
                                 f"the shards' runs); re-run the shards of the old data.")

    suite = _suite_of(first)
    if config.get("suite_version") != suite.version:
        raise PartbenchError(f"{run_path}: shards were made for suite {suite.name} v{config.get('suite_version')}, "
                             f"the registered suite is v{suite.version}; re-run them.")
    kind = task_kind_for(suite)
    evaluator_config = dict(first["evaluator"])
    if convention is not None and "convention" in evaluator_config:
        from partbench.metrics.conventions import check_convention

        evaluator_config["convention"] = check_convention(convention)
    evaluator = kind.evaluator(suite, evaluator_config, None, False)
    header = dict(first)
    if kind.unscorable is not None:
        header["skipped"] = dict(first["skipped"]) | {kind.unscorable: sum(m["unscorable"] for m in metas.values())}
    run_dir = RunDir(run_path, {k: config[k] for k in IDENTITY_FIELDS})
    streams = [_rows(p.with_suffix(".jsonl")) for p in metas]
    found = 0
    with AtomicLineWriter(run_dir.samples_path, supersedes=run_dir.results_path) as out:
        for line in heapq.merge(*streams, key=lambda line: line["index"]):
            evaluator.add(evaluator.decode(line))
            out.write(line)
            found += 1
    expected = sum(m["n_rows"] for m in metas.values())
    if found != expected:
        raise PartbenchError(f"{run_path}/shards: found {found} rows, the shards announce {expected}; re-run them.")
    results = results_document(suite, header, evaluator, n_replicates)
    run_dir.write_results(results)
    return results


def _data_fingerprint(meta: dict[str, Any]) -> str | None:
    data = (meta.get("extra") or {}).get("data") or {}
    return data.get("fingerprint")


def _suite_of(meta: dict[str, Any]) -> Suite:
    """The registered suite of that name, else the YAML file the shards were run with (`run -s path/to/suite.yaml`)."""
    if meta["suite"] not in suite_names() and meta.get("suite_file") and Path(meta["suite_file"]).is_file():
        return load_suite(meta["suite_file"])
    return load_suite(meta["suite"])


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
