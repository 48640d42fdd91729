"""`partbench compare A B [C ...]`: is B better than A on the same samples? Paired bootstrap per metric, Holm-adjusted
over every test. Thin command over `partbench.analysis.paired`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.options import Convention


def compare_command(
    runs: Annotated[list[Path], typer.Argument(
        metavar="RUN_A RUN_B [RUN_C ...]", help="Run folders (or their results.json) of one suite and split; every "
                                                "run after the first is compared with the first.",
        show_default=False)],
    metric: Annotated[Optional[list[str]], typer.Option(
        "--metric", "-m", help="Metric to compare (repeatable, or comma-separated). Default: h_iou, seen_miou, "
                               "unseen_miou, and lr_confusion where the suite has left/right pairs.",
        show_default=False)] = None,
    convention: Convention = None,
    replicates: Annotated[int, typer.Option(help="Paired bootstrap replicates.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed (the same seed gives the same intervals).")] = 0,
    allow_other_data: Annotated[bool, typer.Option(
        "--allow-other-data", help="Compare runs whose data fingerprints differ (marked in the output).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="{a, suite, replicates, ..., comparisons: [{b, metrics: {metric: {difference, ci95, "
                       "p_value, p, ...}}}]}, one entry per run compared with A.")] = False,
) -> None:
    """Is run B better than run A on the same samples? A paired bootstrap per metric.

    Differences B − A in points with their 95% interval and two-sided p-value. The resampling is paired (one draw
    of samples scores both runs), so it sees differences that separate intervals hide. With more than one test
    (runs × metrics) p-values are also Holm-adjusted. For lr_confusion (lower is better) a negative difference
    means B confuses sides less."""
    import json

    from partbench.analysis.paired import compare_runs
    from partbench.analysis.runs import load_run
    from partbench.console import console, err_console

    metrics = [m.strip() for item in metric or () for m in item.split(",") if m.strip()] or None
    loaded = [load_run(p) for p in runs]
    result = compare_runs(loaded, metrics, convention, n_replicates=replicates, seed=seed,
                          allow_other_data=allow_other_data)
    for w in result.warnings:
        err_console.print(f"warning: {w}", highlight=False, markup=False, soft_wrap=True)
    if as_json:
        console.print_json(json.dumps(result.to_json()))
        return
    _print(result, loaded[0].name)


def _fmt(value: float | None, sign: bool = False) -> str:
    return "—" if value is None else (f"{value:+.2f}" if sign else f"{value:.2f}")


def _print(result, base_name: str) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from partbench.console import console
    from partbench.textfit import fit_table, print_wrapped, stacked_records

    print_wrapped(console, f"A = {base_name}: {result.suite}/{result.split}, {result.n_samples} samples, "
                  f"{result.convention}, {result.replicates} paired replicates (seed {result.seed}).")
    headers = ["metric", "A", "B", "B − A", "95% CI", "p"] + (["p (Holm)"] if result.holm else [])
    for c in result.comparisons:
        rows = []
        for d in c.diffs:
            ci = "—" if d.ci95 is None else f"[{d.ci95[0]:+.2f}, {d.ci95[1]:+.2f}]"
            row = [d.metric, _fmt(d.value_a), _fmt(d.value_b), _fmt(d.difference, sign=True), ci, d.p_text()]
            if result.holm:
                row.append(d.p_text(holm=True))
            rows.append([Text(x) for x in row])
        title = f"B = {c.other}"
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for h in headers:
            table.add_column(h, justify="left" if h == "metric" else "right", no_wrap=h != "metric")
        for row in rows:
            table.add_row(*row)
        console.print(fit_table(table, console, lambda t=title, r=rows: stacked_records(t, headers, r)))
    if result.holm:
        print_wrapped(console, "p (Holm): adjusted over all " + str(sum(len(c.diffs) for c in result.comparisons))
                      + " tests (runs × metrics). lr_confusion: lower is better.", style="dim")
