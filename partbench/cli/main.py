"""Entry point of the `partbench` CLI: builds the app from the command modules (which never import this one).

Command modules import only typer at module level, so `partbench --help` and `partbench table` start without numpy
or torch.
"""

from __future__ import annotations

import typer

from partbench.cli import catalog, compare, data, merge, report, run, score, show, table, train, userstudy
from partbench.cli.group import PartbenchGroup

app = typer.Typer(
    name="partbench",
    cls=PartbenchGroup,
    help="Measure how well models understand and control object parts: run methods over suites, score, tabulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# In the order `--help` lists them.
app.command("suites")(catalog.suites_command)
app.command("methods")(catalog.methods_command)
app.add_typer(data.data_app, name="data")
app.command("merge")(merge.merge_command)
app.command("run")(run.run_command)
app.command("score")(score.score_command)
app.command("table")(table.table)
app.command("compare")(compare.compare_command)
app.command("report")(report.report_command)
app.command("show")(show.show_command)
app.command("figure")(show.figure_command)
app.add_typer(train.train_app, name="train")
app.add_typer(userstudy.userstudy_app, name="userstudy")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
