"""Where data and runs live, and atomic file writes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_DATA_ROOT = Path("~/.cache/partbench/data")


def resolve_data_root(data_root: str | Path | None = None) -> Path:
    """`--data-root`, else `$PARTBENCH_DATA`, else `~/.cache/partbench/data`."""
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get("PARTBENCH_DATA")
    return Path(env).expanduser() if env else DEFAULT_DATA_ROOT.expanduser()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` so that `path` either keeps its old content or holds all of the new one, even under SIGKILL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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
    so per-sample rows never accumulate in memory and a killed run never leaves a truncated file behind."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __enter__(self) -> AtomicLineWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self._file = os.fdopen(fd, "w", encoding="utf-8")
        return self

    def write(self, row: Any) -> None:
        self._file.write(json.dumps(row, separators=(",", ":")) + "\n")

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._file.flush()
                os.fsync(self._file.fileno())
        finally:
            self._file.close()
        if exc_type is None:
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
