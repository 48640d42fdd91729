"""`partbench report`: a static HTML report of finished runs (thin command over `partbench.report.build`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.options import DataRoot


def report_command(
    paths: Annotated[Optional[list[Path]], typer.Argument(
        metavar="[RUN_DIRS]", help="Run folders, trees of them, or results files. Default: every run under "
                                   "--runs-root.", show_default=False)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the report (index.html and one page "
                                                                 "per suite).")] = Path("report"),
    runs_root: Annotated[Path, typer.Option("--runs-root", help="Where runs live (when no paths are given).")
                         ] = Path("runs"),
    suite: Annotated[Optional[str], typer.Option("--suite", "-s", help="Only this suite's page.",
                                                 show_default=False)] = None,
    data_root: DataRoot = None,
    userstudy: Annotated[Optional[list[Path]], typer.Option(
        "--userstudy", help="A `userstudy analyze` result (analysis.json, or the pack folder); repeatable.",
        show_default=False)] = None,
    published: Annotated[bool, typer.Option("--published/--no-published",
                                            help="Published reference rows in the leaderboard.")] = True,
    gallery: Annotated[int, typer.Option(min=0, max=500, help="Gallery: samples where the runs disagree most.")
                       ] = 12,
    worst: Annotated[int, typer.Option(min=0, max=100, help="Gallery: each run's worst samples.")] = 4,
    prompts: Annotated[int, typer.Option(min=0, max=500, help="Generation suites: prompts shown.")] = 12,
) -> None:
    """A static HTML report of runs, one page per suite (opens from file://).

    Per suite: the leaderboard with intervals and marks,
    per-class IoU, part confusion per object, left/right errors per mirrored pair and facing, and a gallery of the
    same samples for every run; generation suites show each run's images per prompt with CLIP scores. The same runs
    give the same files."""
    from partbench.console import console, err_console
    from partbench.data.root import resolve_data_root
    from partbench.report.build import ReportOptions, build_report

    opts = ReportOptions(output=output, data_root=resolve_data_root(data_root), paths=paths or None,
                         runs_root=runs_root, suite=suite, published=published, userstudy=list(userstudy or ()),
                         n_disagree=gallery, n_worst=worst, n_prompts=prompts)
    outcome = build_report(opts, note=lambda msg: err_console.print(f"note: {msg}", markup=False, highlight=False,
                                                                    soft_wrap=True))
    console.print(f"report: {outcome.output / 'index.html'} ({len(outcome.pages)} page"
                  f"{'' if len(outcome.pages) == 1 else 's'}, {outcome.n_files} files, "
                  f"{outcome.n_bytes / 1e6:.2f} MB)", highlight=False, soft_wrap=True)
