"""Atomic file writes: a file either keeps its old content or holds all of the new one, even under SIGKILL."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# mkstemp creates files readable by their owner only; results are meant to be shared like any file the user writes.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` so that `path` either keeps its old content or holds all of the new one, even under SIGKILL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    """Read JSON, turning a parse failure into an error that names the file."""
    from partbench.errors import PartbenchError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PartbenchError(f"{path}: file not found.") from None
    except json.JSONDecodeError as e:
        raise PartbenchError(f"{path}: not valid JSON ({e}).") from None


class AtomicLineWriter:
    """Streams JSON lines into a temporary file that replaces `path` only when the block completes without error,
    so per-sample rows never accumulate in memory and a killed run never leaves a truncated file behind.

    `supersedes`: a file computed from the old content (a run's results.json), deleted just before the new rows
    replace the old ones, so that a kill between the two writes leaves no number beside rows it was not made from.
    """

    def __init__(self, path: Path, supersedes: Path | None = None):
        self.path = Path(path)
        self.supersedes = supersedes

    def __enter__(self) -> AtomicLineWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.fchmod(fd, FILE_MODE)
        self._file = os.fdopen(fd, "w", encoding="utf-8")
        return self

    def write(self, row: Any) -> None:
        # A row read back from the file being rewritten keeps its line (`partbench.run.reuse.KeptLine`).
        line = getattr(row, "line", None)
        self._file.write(line if line is not None else json.dumps(row, separators=(",", ":")) + "\n")

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._file.flush()
                os.fsync(self._file.fileno())
        finally:
            self._file.close()
        if exc_type is None:
            if self.supersedes is not None:
                Path(self.supersedes).unlink(missing_ok=True)
            os.replace(self._tmp, self.path)
        else:
            Path(self._tmp).unlink(missing_ok=True)


class CollectingWriter:
    """The `AtomicLineWriter` interface over a list: rows a process sends to rank 0 instead of writing them."""

    def __init__(self, rows: list):
        self.rows = rows

    def __enter__(self) -> CollectingWriter:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def write(self, row: Any) -> None:
        self.rows.append(row)
