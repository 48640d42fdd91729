"""Where a number came from: versions, git commit, command line, time."""

from __future__ import annotations

import datetime as dt
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import partbench


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the partbench checkout in use (with '-dirty' if modified); None for an installed wheel."""
    root = Path(partbench.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    import numpy

    out = {"partbench": partbench.__version__, "python": platform.python_version(), "numpy": numpy.__version__}
    if "torch" in sys.modules:  # record torch only where the run used it; never import it for this
        out["torch"] = sys.modules["torch"].__version__
    return out


def provenance() -> dict[str, Any]:
    return {
        "partbench": partbench.__version__,
        "git": git_commit(),
        "command": shlex.join(["partbench", *sys.argv[1:]]),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
    }
