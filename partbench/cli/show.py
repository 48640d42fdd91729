"""`partbench show` (one sample's overlay) and `partbench figure` (a paper-ready panel of samples x runs); thin
commands over `partbench.report.panels`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.options import DataRoot


def show_command(
    run: Annotated[Path, typer.Argument(help="A run folder (or its results.json).", show_default=False)],
    sample_id: Annotated[str, typer.Argument(help="A sample id, as its file name in the run's predictions/.",
                                             show_default=False)],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Picture to write (.png, .pdf or .svg). Default: SAMPLE_ID.png here.",
        show_default=False)] = None,
    data_root: DataRoot = None,
) -> None:
    """One sample: image | ground truth | the run's prediction, in the suite's part colours, with a legend."""
    from partbench.analysis.runs import load_run
    from partbench.console import console
    from partbench.data.root import resolve_data_root
    from partbench.report.files import safe_name
    from partbench.report.panels import write_figure

    loaded = load_run(run)
    target = output or Path(f"{safe_name(sample_id)}.png")
    write_figure([loaded], [loaded.name], [sample_id], resolve_data_root(data_root), target, width_in=4.5,
                 warn=_warn)
    console.print(f"wrote {target}", highlight=False, soft_wrap=True)


def figure_command(
    runs: Annotated[list[Path], typer.Argument(metavar="RUN_DIRS", help="Run folders of one suite, one column each.",
                                               show_default=False)],
    samples: Annotated[list[str], typer.Option(
        "--samples", help="Sample ids, one row each (repeatable, or comma-separated).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="fig.pdf, fig.svg or fig.png.")] = Path("fig.pdf"),
    data_root: DataRoot = None,
    width: Annotated[Optional[float], typer.Option(help="Figure width in inches (default: up to 7, a two-column "
                                                        "page).", show_default=False)] = None,
) -> None:
    """A paper-ready panel of samples x runs (PDF, SVG or PNG).

    Rows = samples, columns = image, ground truth, each run; vector text, the suite's part colours, and one legend
    for the parts shown."""
    from partbench.analysis.runs import load_run
    from partbench.console import console
    from partbench.data.root import resolve_data_root
    from partbench.report.panels import write_figure

    loaded = [load_run(r) for r in runs]
    ids = [s.strip() for item in samples for s in item.split(",") if s.strip()]
    write_figure(loaded, [r.name for r in loaded], ids, resolve_data_root(data_root), output, width_in=width,
                 warn=_warn)
    console.print(f"wrote {output} ({len(ids)} samples x {len(loaded)} runs)", highlight=False, soft_wrap=True)


def _warn(line: str) -> None:
    from partbench.console import err_console

    err_console.print(f"warning: {line}", style="yellow", markup=False, highlight=False, soft_wrap=True)
