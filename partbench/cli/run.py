"""`partbench run`: predict every sample of a suite with a method (cached, resumable), score, write the run dir."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.options import (
    AllowIncompleteData,
    Bootstrap,
    Convention,
    DataRoot,
    GtResizeOption,
    Split,
    parse_method_args,
)


def run_command(
    method: Annotated[str, typer.Option("--method", "-m", help="Method name (see `partbench methods`).")],
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite name (see `partbench suites`).")],
    data_root: DataRoot = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Root of the run store.")] = Path("runs"),
    split: Split = None,
    limit: Annotated[Optional[int], typer.Option(
        help="Only the first N samples (for quick checks; a run of its own, marked partial, unless N covers the "
             "whole split).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for stochastic methods (part of the cache key).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Recompute predictions even if cached.")] = False,
    convention: Convention = None,
    method_arg: Annotated[Optional[list[str]], typer.Option(
        "--method-arg", "-a", help="Method argument key=value (repeatable).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(
        help="Checkpoint for methods that take one (same as --method-arg checkpoint=PATH).",
        show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per predict() call.")] = 8,
    bootstrap: Bootstrap = 1000,
    workers: Annotated[int, typer.Option(help="Threads decoding samples ahead of inference (0 = inline).")] = 2,
    allow_incomplete_data: AllowIncompleteData = False,
    gt_resize: GtResizeOption = None,
    rehash: Annotated[bool, typer.Option(
        "--rehash", help="Hash every input file again, not trusting unchanged sizes and modification times.")] = False,
    shard: Annotated[Optional[str], typer.Option(
        help="K/N: run only this job's share (K in 0..N-1) of an array of independent jobs; combine them with "
             "`partbench merge RUN_DIR`.", show_default=False)] = None,
    executor: Annotated[Optional[str], typer.Option(
        help="Submit --shards jobs through submitit and merge when done: slurm, or local (processes here).",
        show_default=False)] = None,
    shards: Annotated[int, typer.Option(help="Number of array jobs for --executor.")] = 1,
    slurm_arg: Annotated[Optional[list[str]], typer.Option(
        "--slurm-arg", help="submitit Slurm parameter key=value (e.g. slurm_partition=gpu, timeout_min=240, "
                            "gpus_per_node=1); repeatable.")] = None,
) -> None:
    """Run METHOD over SUITE: predictions are cached per sample, so an interrupted run resumes where it stopped.

    A method may turn one request into several runs (a sweep, e.g. seg4diff's `-a layers=all`): each variant is
    then a run of its own, `METHOD@key=value`, written beside the others."""
    from partbench.cli.summary import print_summary
    from partbench.data.root import resolve_data_root
    from partbench.run import RunRequest, run

    request = RunRequest(
        method=method, suite=suite, data_root=resolve_data_root(data_root), output_root=output, split=split,
        method_args=parse_method_args(method_arg) | ({"checkpoint": str(checkpoint.resolve())} if checkpoint else {}),
        limit=limit, seed=seed, force=force, convention=convention, batch_size=batch_size, bootstrap=bootstrap,
        shard=shard, workers=workers, allow_incomplete_data=allow_incomplete_data, rehash=rehash,
        gt_resize=gt_resize,
    )
    from partbench.cli.sweep import run_sweep
    from partbench.console import err_console
    from partbench.data.generated import ensure_generated

    # A generated suite (demo) is made on first use; the library's `run` never writes a dataset itself.
    ensure_generated(suite, request.data_root, explicit_root=data_root is not None, shard=shard,
                     note=lambda msg: err_console.print(msg, highlight=False, soft_wrap=True))

    if run_sweep(request, executor):  # the method turned the request into several runs, and they are done
        return
    if executor:
        from partbench.scale.executors import run_array

        slurm = {k: _number(v) for k, v in parse_method_args(slurm_arg).items()}
        results = run_array(request, shards, executor, output / "_submitit", slurm)
        print_summary(results, str(output / results["suite"] / results["run_name"] / "results.json"))
        return
    outcome = run(request)
    if outcome.results is None:  # a shard, or a rank other than 0
        if outcome.note:
            err_console.print(outcome.note, highlight=False)
        return
    err_console.print(f"predicted {outcome.predicted}, reused {outcome.cached} cached predictions", style="dim")
    if limit is not None and outcome.results.get("limit") is None:
        err_console.print(f"note: --limit {limit} covers every sample of the split: this is the complete run.",
                          style="dim", highlight=False)
    print_summary(outcome.results, str(outcome.run_dir / "results.json"))


def _number(value: str):
    """Slurm parameters arrive as text; submitit wants ints where they are numbers."""
    return int(value) if value.isdigit() else value
