"""`partbench run` for a request a method turns into several runs (its `sweep_for` hook, e.g. seg4diff's
`-a layers=all`): one run per variant, `METHOD@key=value`, each through the normal loop and in its own folder beside
the others, so `table` and every report read them as ordinary runs."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from typing import Any


def run_sweep(request: Any, executor: str | None) -> bool:
    """Run every variant of the method's sweep, inside the sweep's context; False when the request asks for one run."""
    from partbench.cli.summary import print_summary
    from partbench.console import err_console
    from partbench.errors import PartbenchError
    from partbench.registry import get_method
    from partbench.run import run
    from partbench.suites import load_suite
    from partbench.tasks.base import task_kind_for

    suite = load_suite(request.suite)
    info = get_method(request.method, task_kind_for(suite).name, where=f"suite {suite.name!r} ({suite.task})")
    sweep = info.sweep(suite=suite, data_root=request.data_root, args=dict(request.method_args or {}),
                       seed=request.seed)
    if sweep is None:
        return False
    if executor:
        raise PartbenchError(f"{request.method}: a sweep ({len(sweep.variants)} runs) shares its work in one process "
                             "and cannot be submitted with --executor; start one job per --shard K/N instead, then "
                             "`partbench merge` each run folder.")
    with sweep.context() if sweep.context else nullcontext():
        for variant in sweep.variants:
            name = f"{request.method}@{variant}"
            err_console.print(f"[bold]{name}[/]", highlight=False)
            outcome = run(replace(request, method=name, method_args=dict(sweep.args)))
            if outcome.results is None:  # a shard, or a rank other than 0
                if outcome.note:
                    err_console.print(outcome.note, highlight=False)
                continue
            err_console.print(f"predicted {outcome.predicted}, reused {outcome.cached} cached predictions",
                              style="dim")
            print_summary(outcome.results, str(outcome.run_dir / "results.json"))
    return True
