"""Terminal output that reads at any width (80 columns included): names, ids, commands and numbers are never cut.

rich shortens a cell with '…' when the table's columns cannot all get their minimum width (each column's longest
word). Every table partbench prints goes through `fit_table`: when the table's minimum width fits the terminal it is
printed as it is, with `overflow="fold"` as the last resort (a character is never dropped); otherwise the caller's
narrower layout is used (a table with stacked cells, or one block per row, `stacked_records`). Free text goes
through `wrap_keep`, which wraps at spaces but never inside a `backticked` command, so a command a user must copy
stays whole on one line.

Only rich is imported, and only inside the functions: `partbench --help` and `partbench table` stay light.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

    Cell = Union[str, Text]

# A no-break space stands in for the spaces of an atomic span while textwrap works (textwrap only breaks at ASCII
# whitespace and hyphens; hyphen breaks are switched off below).
_NBSP = "\u00a0"
_ATOMIC = re.compile(r"`[^`]*`")


def wrap_keep(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """`text` wrapped to `width` at spaces, never inside a word or a `backticked` span (such a span longer than the
    width gets a line of its own and is left whole). Paragraphs (blank-line separated) stay apart."""
    subsequent = indent if subsequent is None else subsequent
    out: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        joined = " ".join(paragraph.split())
        protected = _ATOMIC.sub(lambda m: m.group(0).replace(" ", _NBSP), joined)
        lines = textwrap.wrap(protected, width=max(width, 20), initial_indent=indent, subsequent_indent=subsequent,
                              break_long_words=False, break_on_hyphens=False)
        out.extend(line.replace(_NBSP, " ") for line in lines or [indent])
    return out


def print_wrapped(console: Console, text: str, indent: str = "", subsequent: str | None = None,
                  style: str | None = None) -> None:
    """Print `text` wrapped by `wrap_keep` at the console's width (rich's own wrapping is turned off)."""
    for line in wrap_keep(text, console.width, indent, subsequent):
        console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


def min_width(table: Table, console: Console) -> int:
    """The narrowest width at which rich prints `table` without shortening a cell: per column, its longest word,
    or its longest line where the column is `no_wrap` (rich's own measurement ignores `no_wrap`, and would call a
    table of "31.85 ± 3.00" cells narrower than it can be printed). Uses rich's table internals (rich >= 13)."""
    from rich.measure import Measurement

    options = console.options
    total = table._extra_width
    for index, column in enumerate(table.columns):
        cells = ([column.header] if table.show_header else []) + list(column._cells)
        sizes = [Measurement.get(console, options, cell) for cell in cells] or [Measurement(1, 1)]
        width = max(m.maximum if column.no_wrap else m.minimum for m in sizes)
        total += max(width, column.min_width or 0) + table._get_padding_width(index)
    return total


def never_cut(table: Table) -> Table:
    """Fold instead of '…' in every column: should rich still have to shrink a column, no character is lost."""
    for column in table.columns:
        column.overflow = "fold"
    return table


def fit_table(table: Table, console: Console, narrower: Callable[[], RenderableType] | None = None) -> RenderableType:
    """`table` when it fits the console's width; else `narrower()` (another layout of the same cells), or the table
    folded where it must be."""
    if narrower is None or min_width(table, console) <= console.width:
        return never_cut(table)
    return narrower()


def stacked_records(title: str | None, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> RenderableType:
    """One block per row, for tables too wide for the terminal: the row's first cell as its heading, then one
    `header  value` line per other cell, values aligned and wrapped (never cut) under themselves."""
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text

    parts: list = [Text(title, style="bold")] if title else []
    for row in rows:
        first = row[0] if isinstance(row[0], Text) else Text(str(row[0]))
        parts.append(Text.assemble(first.copy(), style="bold"))
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for header, cell in zip(headers[1:], row[1:]):
            grid.add_row(Text("  " + header), cell if isinstance(cell, Text) else Text(str(cell)))
        parts.append(grid)
    return Group(*parts)
