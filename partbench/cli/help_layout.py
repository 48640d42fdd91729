"""`--help` that cuts nothing at any terminal width.

typer draws a command's options as a rich table (required mark, option names, switches, type, help) whose columns end
a cell too long for them with '…': at 80 columns, long option names (`--gradient-checkpointing`) and words of the
help text (a path, `OV-PARTS/PartCATSeg/LangHOPS`). Here every column but the last keeps its text whole, the help text
wraps at spaces and breaks a word longer than its column instead of cutting it, and when the names leave the help too
little room, each option is drawn as two lines: its names and type, then its help, indented.

Installed only when help is about to be shown (`PartbenchGroup.parse_args`): it imports rich's table machinery, which
ordinary commands do not need at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

MIN_HELP_WIDTH = 28  # narrower than this, the help text goes under the option's names
_installed = False


def wants_help(args: Sequence[str]) -> bool:
    """Whether these command-line arguments show help (`--help`, or a group called without a subcommand)."""
    return not args or "--help" in args


def install() -> None:
    """Make typer's help tables keep every cell whole (idempotent)."""
    global _installed
    if _installed:
        return
    from typer import rich_utils

    rich_utils.Table = _whole_cell_table()  # typer looks the name up in its module each time it draws a table
    _installed = True


def _whole_cell_table() -> type:
    from rich.columns import Columns
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    def fold(renderable: Any) -> None:
        """Break a too-long word over lines rather than cut it (typer's help cell is a Text or Columns of Texts)."""
        for item in renderable.renderables if isinstance(renderable, Columns) else [renderable]:
            if isinstance(item, Text):
                item.overflow = "fold"

    class WholeCellTable(Table):
        def add_row(self, *renderables: Any, **kwargs: Any) -> None:
            super().add_row(*renderables, **kwargs)
            *names, text = self.columns  # typer lets the table create its columns with the first row
            for column in names:
                column.no_wrap = True
            text.overflow = "fold"
            if renderables:
                fold(renderables[-1])

        def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
            names = self.columns[:-1]
            widest = sum(max((console.measure(c, options=options).maximum for c in column.cells), default=0) + 2
                         for column in names)
            if not names or options.max_width - widest >= MIN_HELP_WIDTH:
                yield from super().__rich_console__(console, options)
                return
            cells = [list(column.cells) for column in self.columns]
            for row in range(self.row_count):
                parts = [Text(c) if isinstance(c, str) else c for c in (cells[i][row] for i in range(len(names)))]
                line = Text(" ").join(p for p in parts if isinstance(p, Text) and p.plain.strip())
                line.overflow = "fold"
                yield line
                yield Padding(cells[-1][row], (0, 0, 0, 4))

    return WholeCellTable
