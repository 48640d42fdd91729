"""Running the `partbench` CLI in-process, as the tests do everywhere."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner


def invoke(*args: Any):
    """`partbench ARGS...` in this process (arguments may be paths or numbers); returns click's Result."""
    from partbench.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])
