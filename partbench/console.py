"""Shared rich consoles (results to stdout, progress and diagnostics to stderr) and the progress bar of long work."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


class NoteColumn(ProgressColumn):
    """Free text a loop updates as it goes (e.g. 'cached 120'); empty when the task has none."""

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get("note", "")), style="dim")


def progress_bar(transient: bool = False, disable: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        NoteColumn(),
        console=err_console,
        transient=transient,
        disable=disable,  # e.g. on every rank but 0 of a multi-process run
    )
