"""Submitting the N shards of a run as a job array through submitit (Slurm, or local processes), then merging."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError

EXECUTORS = ("slurm", "local")


def _run_shard(request) -> Path | None:
    """One array task (module-level so that submitit can pickle it): the run folder it wrote into."""
    from partbench.run import run

    return run(request).run_dir


def run_array(request, shards: int, executor: str, folder: Path, slurm: dict[str, Any] | None = None) -> dict:
    """Run `shards` jobs `--shard K/shards`, wait for all, merge, and return the results."""
    try:
        import submitit
    except ImportError:
        raise PartbenchError("--executor needs submitit: pip install 'partbench[scale]'.") from None
    from partbench.run import merge_run

    if executor not in EXECUTORS:
        from partbench.errors import UnknownNameError

        raise UnknownNameError("executor", executor, EXECUTORS)
    if shards < 1:
        raise PartbenchError(f"--shards must be at least 1, got {shards}.")
    if executor == "slurm":
        pool = submitit.AutoExecutor(folder=folder, cluster="slurm")
        pool.update_parameters(slurm_array_parallelism=shards, **(slurm or {}))
    else:
        pool = submitit.LocalExecutor(folder=folder)
        pool.update_parameters(timeout_min=(slurm or {}).get("timeout_min", 60))
    requests = [replace(request, shard=f"{k}/{shards}") for k in range(shards)]
    jobs = pool.map_array(_run_shard, requests)
    failures, folders = [], set()
    for k, job in enumerate(jobs):
        try:
            folders.add(job.result())
        except Exception as e:  # report every failed shard, not only the first
            reason = str(e).strip().splitlines()[-1] if str(e) else e
            failures.append(f"shard {k}/{shards} (job {job.job_id}): {reason}")
    if failures:
        raise PartbenchError("shards failed; the others are kept, re-run to resume:\n" + "\n".join(failures))
    # The folder the shards wrote, named by the run loop (`RunDir.open`) from the run's whole identity: computing the
    # name again here would miss what only the loop knows (incomplete data, a --limit that leaves nothing out).
    if len(folders) != 1 or None in folders:
        raise PartbenchError(f"the {shards} shards did not all write into one run folder "
                             f"({', '.join(sorted(map(str, folders)))}).")
    return merge_run(folders.pop(), n_replicates=request.bootstrap, convention=request.convention)
