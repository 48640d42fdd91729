"""Entry point of the `partbench` CLI.

Each command is built only when it runs (or when a listing of all of them, `partbench --help`, asks): typer turns a
command function into click options by evaluating every annotation of its signature, ~1.5 ms a command
(`benchmarks/cli_startup.py`), and the CLI has more than thirty. Command modules import only typer at module level,
so `partbench --help` and `partbench table` start without numpy or torch.
"""

from __future__ import annotations

import typer

from partbench.cli.group import LazyCommands

# name -> "module:attribute", a command function or a typer app of subcommands, in the order `--help` lists them
# (typer's: commands, then groups).
COMMANDS = {
    "suites": "partbench.cli.catalog:suites_command",
    "methods": "partbench.cli.catalog:methods_command",
    "merge": "partbench.cli.merge:merge_command",
    "run": "partbench.cli.run:run_command",
    "score": "partbench.cli.score:score_command",
    "table": "partbench.cli.table:table",
    "compare": "partbench.cli.compare:compare_command",
    "report": "partbench.cli.report:report_command",
    "show": "partbench.cli.show:show_command",
    "figure": "partbench.cli.show:figure_command",
    "data": "partbench.cli.data:data_app",
    "train": "partbench.cli.train:train_app",
    "userstudy": "partbench.cli.userstudy:userstudy_app",
}


class PartbenchCLI(LazyCommands):
    lazy = COMMANDS


app = typer.Typer(
    name="partbench",
    cls=PartbenchCLI,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def partbench() -> None:
    """Measure how well models understand and control object parts: run methods over suites, score, tabulate."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
