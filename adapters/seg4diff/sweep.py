"""What the sibling runs of one layer sweep (`-a layers=...`) share: the loaded model and one forward per sample.

`partbench run -m seg4diff -a layers=all` becomes one run per layer, `seg4diff@layer=K`, in ascending order, each
through the normal run loop (partbench.cli.sweep), inside `sweep_session`. While the session is open, a
`seg4diff@layer=K` method whose other arguments are the sweep's captures, in the forward it makes for a sample, its
own layer and every later layer of the sweep, and leaves the later layers' maps in the session's folder, where their
runs take them instead of running the model again. So each sample gets one forward for the whole sweep (in a resumed
sweep, a sample gets one more forward only where a run still lacks its prediction and no earlier run left its
maps), and every run's predictions are exactly those of a run of that layer alone.

The folder (a temporary directory, removed when the session ends) holds the low-resolution class maps: about
C x tokens x 4 bytes per layer and sample (4 MB for 10 parts, 24 layers and SD3's 4096 tokens), freed as they are
taken. The loaded model stays in memory until the session ends.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


class SweepSession:
    def __init__(self, args: dict[str, str], layers: list[int]):
        self.args = dict(args)  # the arguments every sibling run shares (no layer, no layers)
        self.layers = list(layers)
        self.folder = Path(tempfile.mkdtemp(prefix="partbench-seg4diff-sweep-"))
        self.backbone: Any = None  # the model, loaded by the first sibling that needs it

    def matches(self, args: dict[str, str]) -> bool:
        """Whether a method built with `args` is one of this sweep's siblings."""
        return "layer" in args and {k: v for k, v in args.items() if k != "layer"} == self.args

    def _file(self, sample_id: str, layer: int) -> Path:
        return self.folder / f"{hashlib.sha256(sample_id.encode()).hexdigest()[:24]}-{layer}.npz"

    def put(self, sample_id: str, layer: int, ids: np.ndarray, maps: np.ndarray) -> None:
        np.savez(self._file(sample_id, layer), ids=ids, maps=maps)

    def take(self, sample_id: str, layer: int, ids: np.ndarray) -> np.ndarray | None:
        """The maps a sibling left for this sample and layer (removed), or None."""
        path = self._file(sample_id, layer)
        if not path.exists():
            return None
        with np.load(path) as f:
            stored_ids, maps = f["ids"], f["maps"]
        path.unlink()
        return maps if np.array_equal(stored_ids, ids) else None

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.backbone = None


_ACTIVE: list[SweepSession] = []


@contextmanager
def sweep_session(args: dict[str, str], layers: list[int]) -> Iterator[SweepSession]:
    session = SweepSession(args, layers)
    _ACTIVE.append(session)
    try:
        yield session
    finally:
        _ACTIVE.remove(session)
        session.close()


def active_session(args: dict[str, str]) -> SweepSession | None:
    """The open sweep a method built with `args` belongs to, if any."""
    return next((s for s in reversed(_ACTIVE) if s.matches(args)), None)
