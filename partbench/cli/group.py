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
        from partbench.cli.coercion import install as plain_coercion
        from partbench.cli.help_layout import install, wants_help

        if wants_help(args):  # before parsing, which shows the help of this group or of a command under it
            install()
        plain_coercion(self, ctx)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        from partbench.cli.coercion import install as plain_coercion

        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            plain_coercion(command, ctx)
        return name, command, rest

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


class LazyCommands(PartbenchGroup):
    """A group whose commands (`lazy`: name -> "module:attribute", a command function or a typer app) are built
    when first asked for, so that a command's run builds that command alone."""

    lazy: dict[str, str] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(name for name in super().list_commands(ctx) if name not in self.lazy)]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and args[0] not in self.lazy:
            for name in self.lazy:  # an unknown name: build them all, so that typer suggests among all of them
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in self.commands and name in self.lazy:
            self.commands[name] = _build(name, self.lazy[name])
        return super().get_command(ctx, name)


def _build(name: str, target: str) -> Any:
    """The click command `name` exactly as `app.command(name)` or `app.add_typer(..., name=name)` on a typer group
    would build it."""
    from partbench.plugins import resolve

    found = resolve(target)
    holder = typer.Typer(rich_markup_mode="rich", add_completion=False)
    holder.callback()(lambda: None)  # a group even with one member (typer makes a lone command the app itself)
    if isinstance(found, typer.Typer):
        holder.add_typer(found, name=name)
    else:
        holder.command(name)(found)
    return typer.main.get_command(holder).commands[name]
