"""results.json and shard files: the documents a run leaves, composed the same way for every task kind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.scale.parallel import Shard
from partbench.store.atomic import AtomicLineWriter, atomic_write_json
from partbench.store.run_dir import RESULTS_SCHEMA

if TYPE_CHECKING:
    from partbench.suites import Suite
    from partbench.tasks.base import Evaluator


def results_document(suite: Suite, header: dict[str, Any], evaluator: Evaluator, n_replicates: int) -> dict[str, Any]:
    """Header, the evaluator's summary, skipped counts, the run's settings, metrics with intervals, provenance."""
    from partbench.provenance import provenance

    doc: dict[str, Any] = {
        "schema_version": RESULTS_SCHEMA,
        "suite": suite.name,
        "suite_version": suite.version,
        "split": header["split"],
        "task": suite.task,
        "method": header["method"],
        "method_args": header["method_args"],
        "run_name": header["run_name"],
        "convention": evaluator.convention,
    }
    doc |= evaluator.summary()
    doc |= {"n_skipped": header["skipped"], "meaningful": header["meaningful"]}
    doc |= header["extra"]
    doc |= evaluator.evaluate(n_replicates)
    doc["provenance"] = provenance()
    return doc


def write_shard(run_path: Path, shard: Shard, header: dict[str, Any], rows: list[dict[str, Any]],
                unscorable: int) -> None:
    """A shard's rows and what `merge` needs to check and combine it; the metadata file is written last."""
    shards = Path(run_path) / "shards"
    with AtomicLineWriter(shards / f"{shard.label}.jsonl") as out:
        for row in rows:
            out.write(row)
    atomic_write_json(shards / f"{shard.label}.json", header | {"shard": [shard.index, shard.count],
                                                               "n_rows": len(rows), "unscorable": unscorable})
