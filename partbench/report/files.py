"""The files of a report: each written atomically, their list kept in `report-files.json`, so that writing the
report again replaces exactly what the last one wrote (a gallery image no longer chosen is removed) and never
touches anything else in the folder."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from partbench.errors import PartbenchError
from partbench.store.atomic import atomic_write_bytes, atomic_write_text

MANIFEST = "report-files.json"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(text: str) -> str:
    """A file name for a sample or run name: itself when it is one, else a cleaned copy with a short hash (two
    names that clean alike stay apart)."""
    clean = _SAFE.sub("_", text)
    if clean == text and not text.startswith("."):
        return text
    return f"{clean.lstrip('.')[:60]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class ReportFiles:
    """Files written under `root`, relative paths in POSIX form (what the HTML links to)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise PartbenchError(f"{self.root}: exists and is not a folder; choose another --output.")
        self.written: dict[str, int] = {}

    def add(self, rel: str, data: bytes) -> str:
        if rel in self.written:
            raise ValueError(f"report file written twice: {rel}")
        atomic_write_bytes(self.root / rel, data)
        self.written[rel] = len(data)
        return rel

    def add_text(self, rel: str, text: str) -> str:
        return self.add(rel, text.encode("utf-8"))

    def finish(self) -> tuple[int, int]:
        """Remove what the previous report wrote and this one did not; record this one. Returns (files, bytes)."""
        manifest = self.root / MANIFEST
        old: list[str] = []
        if manifest.is_file():
            try:
                old = list(json.loads(manifest.read_text(encoding="utf-8")).get("files", []))
            except (ValueError, AttributeError):
                old = []  # a damaged list: remove nothing rather than guess
        for rel in old:
            path = (self.root / rel).resolve()
            if rel not in self.written and self.root.resolve() in path.parents and path.is_file():
                path.unlink()
        files = sorted(self.written)
        atomic_write_text(manifest, json.dumps({"files": files}, indent=1) + "\n")
        return len(files) + 1, sum(self.written.values()) + manifest.stat().st_size
