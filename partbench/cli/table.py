"""`partbench table`: leaderboard tables from results files, with the published reference numbers.

Thin command over `partbench.leaderboard`; imports only typer at module level (and rich/yaml when run), never numpy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

# The same names as partbench.leaderboard.render.FORMATS, repeated so that loading this module imports only typer.
_FORMATS = ("rich", "markdown", "latex", "csv", "json")


def table(
    paths: Optional[list[Path]] = typer.Argument(
        None,
        metavar="RUN_DIRS_OR_RESULT_FILES",
        help="Run directories, trees of them, or results JSON files. Default: every results.json under --runs-root.",
        show_default=False,
    ),
    runs_root: Path = typer.Option(Path("runs"), "--runs-root", help="Where runs live (used when no paths are given)."),
    suite: Optional[str] = typer.Option(None, "--suite", "-s", help="Only this suite's table."),
    fmt: str = typer.Option("rich", "--format", "-f", help="rich | markdown | latex | csv | json."),
    published: Optional[bool] = typer.Option(
        None,
        "--published/--no-published",
        help="Add the published reference numbers (leaderboards/published.yaml) below the measured runs (default: on).",
        show_default=False,
    ),
    ci: bool = typer.Option(False, "--ci/--no-ci", help="Show ± half-width of the 95% CI (rich, markdown, latex)."),
    metrics: Optional[str] = typer.Option(
        None, "--metrics", help="Comma-separated metric keys to show instead of the suite's headline metrics."
    ),
    decimals: int = typer.Option(2, "--decimals", min=0, max=6, help="Decimals for measured numbers."),
) -> None:
    """Tabulate results: one table per suite, measured runs first, published numbers after them.

    Bold marks the best value per column, computed separately among the measured runs (smoke and stale runs
    excluded) and among the published rows, where a block has two or more values; for ↓ columns the lowest.
    """
    from partbench.console import console, err_console
    from partbench.errors import PartbenchError
    from partbench.leaderboard import render
    from partbench.leaderboard.published import load_preferences, load_published, published_path
    from partbench.leaderboard.results import find_result_files, load_rows
    from partbench.leaderboard.tables import METRIC_LABELS, build_tables
    from partbench.leaderboard.types import Row
    from partbench.natural_order import runs_in_natural_order

    def note(msg: str) -> None:
        err_console.print(msg, markup=False, highlight=False, soft_wrap=True)

    fmt = fmt.lower()
    aliases = {"md": "markdown", "tex": "latex"}
    fmt = aliases.get(fmt, fmt)
    if fmt not in _FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(_FORMATS)}.", param_hint="--format")
    metric_list = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None

    files = runs_in_natural_order(find_result_files(paths, runs_root, note), paths)  # layer=2 before layer=10
    named = {Path(p).resolve() for p in (paths or []) if Path(p).is_file()}

    def skip_unreadable(path: Path, error: PartbenchError) -> None:
        if path.resolve() in named:  # a file the user named is an error; one found by scanning is skipped
            raise error
        note(f"warning: skipped a run that cannot be read: {error}")

    measured = load_rows(files, skip_unreadable)

    published_rows: list[Row] = []
    preferences = []
    if published is not False:
        try:
            published_rows = load_published()
            preferences = load_preferences()
        except PartbenchError:
            if published:  # asked for explicitly
                raise
            note(f"note: no published numbers ({published_path()} not found); showing measured runs only.")

    tables = build_tables(measured, published_rows, suite=suite, metrics=metric_list, preferences=preferences)
    for m in metric_list or ():
        if not any(r.value(m) is not None for t in tables for r in t.rows):
            note(f"note: no row has a value for metric {m!r} (known names: {', '.join(METRIC_LABELS)}).")

    if not measured or (suite and not any(r.suite == suite for r in measured)):
        where = "the given paths" if paths else f"{runs_root}" + ("" if runs_root.is_dir() else " (no such directory)")
        what = f" for suite {suite!r}" if suite else ""
        shown = " Showing published numbers only." if tables else ""
        note(f"No results{what} found under {where} (create them with `partbench run` or `partbench score`).{shown}")
    if not tables:
        if suite:
            known = sorted({r.suite for r in (*measured, *published_rows, *preferences)})
            if known:
                note(f"Suites with results or published numbers: {', '.join(known)}.")
        raise typer.Exit(1)

    if fmt == "rich":
        for renderable in render.render_rich(tables, ci=ci, decimals=decimals, width=console.width):
            console.print(renderable)
    elif fmt == "markdown":
        sys.stdout.write(render.render_markdown(tables, ci=ci, decimals=decimals))
    elif fmt == "latex":
        sys.stdout.write(render.render_latex(tables, ci=ci, decimals=decimals))
    elif fmt == "csv":
        sys.stdout.write(render.render_csv(tables))
    else:
        sys.stdout.write(render.render_json(tables))
