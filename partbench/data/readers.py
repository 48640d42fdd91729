"""The dataset reader interface; readers are registered by the name a suite YAML gives as `reader`
(`partbench.registry.register_reader`; the built-ins in `partbench/data/__init__.py`).

A reader lists a split's samples cheaply (`index`) and loads one sample at a time (`load`), so memory does not grow
with the split. Registration is lazy ("module:Class") so that naming a reader imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from partbench.data.completeness import Inventory
    from partbench.data.types import Sample, SampleRef
    from partbench.suites import Suite

@dataclass
class SampleIndex:
    """The samples of one split, in a fixed order, plus what was left out and why."""

    refs: list[SampleRef]
    skipped: dict[str, int] = field(default_factory=dict)


class Reader(Protocol):
    def check(self, split: str) -> None:
        """Raise `DataNotFoundError` (saying what to download and where) if the split is not on disk."""

    def index(self, split: str) -> SampleIndex: ...

    def annotation_files(self, split: str) -> list[Path]: ...

    def input_files(self, ref: SampleRef) -> list[Path]:
        """Every file the sample is read from: a cached prediction is reused only while they are unchanged."""

    def inventory(self, split: str) -> Inventory:
        """The split's counts (`images`, ...) and every file missing its partners (partbench.data.completeness)."""

    def load(self, ref: SampleRef) -> Sample: ...


def make_reader(suite: Suite, data_root: Path) -> Reader:
    from partbench.plugins import resolve
    from partbench.registry import READERS

    cls = resolve(READERS.get(suite.reader))
    return cls(suite, data_root, **suite.reader_args)


def require_paths(suite: Suite, root: Path | None, split: str, paths: list[Path]) -> None:
    """Raise `DataNotFoundError` naming the dataset folder or every missing path, followed by how to get the data.

    `root` is the dataset folder (reported alone when it is missing entirely), or None for multi-folder datasets.
    """
    from partbench.errors import DataNotFoundError

    if root is not None and not root.is_dir():
        raise DataNotFoundError(f"Suite {suite.name!r}: dataset folder {root} not found.\n{suite.obtain}")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise DataNotFoundError(f"Suite {suite.name!r} ({split} split): missing {', '.join(missing)}.\n{suite.obtain}")
