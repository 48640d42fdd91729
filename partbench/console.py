"""Shared rich consoles: results go to stdout, progress and diagnostics to stderr."""

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
