"""The click group every partbench command runs in: user errors become one line and exit code 2, an interrupt one
line and exit code 130."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


class PartbenchGroup(TyperGroup):
    """Turns a `PartbenchError` (bad input, missing data) into one clear line and exit code 2, no traceback; help
    of this group and every command under it cuts nothing (`partbench.cli.help_layout`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from partbench.cli.help_layout import install, wants_help

        if wants_help(args):  # before parsing, which shows the help of this group or of a command under it
            install()
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        from partbench.errors import PartbenchError

        try:
            return super().invoke(ctx)
        except PartbenchError as e:
            from rich.markup import escape

            from partbench.console import err_console

            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from e
        except KeyboardInterrupt:
            from partbench.console import err_console

            # Writes are atomic and finished predictions are cached: nothing done so far is lost.
            err_console.print("interrupted: what was finished is kept; run the same command again to resume.",
                              style="yellow", highlight=False, soft_wrap=True)
            raise typer.Exit(code=130) from None
