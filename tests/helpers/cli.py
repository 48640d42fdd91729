"""Running the `partbench` CLI in-process, as the tests do everywhere."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner


def invoke(*args: Any):
    """`partbench ARGS...` in this process (arguments may be paths or numbers); returns click's Result."""
    from partbench.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def walk_commands() -> list[tuple[list[str], Any, Any]]:
    """Every command and group of the CLI as (the words that name it, the click command, a context for it); `[]` is
    `partbench` itself. Commands are asked for by name, as the CLI asks: the top-level group builds them lazily."""
    import typer

    from partbench.cli.main import app

    def walk(command, words: list[str], parent):
        ctx = typer.main._click.Context(command, info_name=words[-1] if words else "partbench", parent=parent)
        yield words, command, ctx
        for name in (command.list_commands(ctx) if hasattr(command, "list_commands") else []):
            yield from walk(command.get_command(ctx, name), [*words, name], ctx)

    return list(walk(typer.main.get_command(app), [], None))
