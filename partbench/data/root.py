"""Where datasets live: `--data-root`, else `$PARTBENCH_DATA`, else `~/.cache/partbench/data`."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_ROOT = Path("~/.cache/partbench/data")


def resolve_data_root(data_root: str | Path | None = None) -> Path:
    """`--data-root`, else `$PARTBENCH_DATA`, else `~/.cache/partbench/data`."""
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get("PARTBENCH_DATA")
    return Path(env).expanduser() if env else DEFAULT_DATA_ROOT.expanduser()
