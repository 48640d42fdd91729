"""Dataset readers, registered by the name a suite YAML gives as `reader`.

A reader lists a split's samples cheaply (`index`) and loads one sample at a time (`load`), so memory does not grow
with the split. Registration is lazy ("module:Class") so that naming a reader imports nothing heavy.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from partbench.errors import UnknownNameError

if TYPE_CHECKING:
    from partbench.data.types import Sample, SampleRef
    from partbench.suites import Suite

READERS: dict[str, str] = {
    "ovparts-semantic": "partbench.data.ovparts:OVPartsSemanticReader",
    "ade20k-part": "partbench.data.ade20k:ADE20KPartReader",
    "partimagenet": "partbench.data.partimagenet:PartImageNetReader",
    "pascal-part-mat": "partbench.data.pascal_part:PascalPartReader",
}


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

    def load(self, ref: SampleRef) -> Sample: ...


def make_reader(suite: Suite, data_root: Path) -> Reader:
    if suite.reader not in READERS:
        raise UnknownNameError("reader", suite.reader, READERS)
    module, attr = READERS[suite.reader].split(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(suite, data_root, **suite.reader_args)
