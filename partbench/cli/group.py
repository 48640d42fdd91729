"""The click group every partbench command runs in: user errors become one line and exit code 2."""

from __future__ import annotations

import typer
from typer.core import TyperGroup


class PartbenchGroup(TyperGroup):
    """Turns a `PartbenchError` (bad input, missing data) into one clear line and exit code 2, no traceback."""

    def invoke(self, ctx):
        from partbench.errors import PartbenchError

        try:
            return super().invoke(ctx)
        except PartbenchError as e:
            from rich.markup import escape

            from partbench.console import err_console

            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from e
