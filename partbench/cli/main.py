"""Entry point of the `partbench` CLI.

Each command module registers its commands on `app` when imported. Command modules import only typer at module
level, so `partbench --help` and `partbench table` start without numpy or torch.
"""

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

            from partbench.cli.console import err_console

            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from e


app = typer.Typer(
    name="partbench",
    cls=PartbenchGroup,
    help="Measure how well models understand and control object parts: run methods over suites, score, tabulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Imported for their side effect of adding commands to `app`, in the order `--help` lists them.
from partbench.cli import catalog, data, merge, run, score, table, train, userstudy  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
