"""Suites: one YAML file each in this folder, loaded into `Suite` (`partbench.suites.parse`; every key is listed in
docs/adding-a-suite.md).

Loading a suite reads YAML and, for suites whose class list comes from the official code, a JSON file; it imports no
numpy or torch, so `partbench suites` and `partbench table` stay fast.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from partbench.errors import DataNotFoundError, UnknownNameError
from partbench.suites.datasets import Layout, Source

SUITES_DIR = Path(__file__).parent
SETTINGS = ("oracle-object", "pred-all")

_SIDE_SWAP = {"left": "right", "right": "left"}


def object_of(class_name: str) -> str:
    """The object of a part class `"<object>'s <part>"` (seen/unseen is decided per object)."""
    return class_name.split("'s ", 1)[0]


def part_of(class_name: str) -> str:
    return class_name.split("'s ", 1)[1] if "'s " in class_name else class_name


def mirrored_phrase(part: str) -> str | None:
    """`left front leg` -> `right front leg`; None when the phrase has no left/right word."""
    words = part.split()
    if not any(w in _SIDE_SWAP for w in words):
        return None
    return " ".join(_SIDE_SWAP.get(w, w) for w in words)


@dataclass(frozen=True)
class Suite:
    """A benchmark: what is evaluated, on which data, with which class list and protocol."""

    name: str
    version: str
    task: str
    title: str
    description: str
    reader: str
    dataset_dir: str
    classes: tuple[str, ...]
    object_classes: tuple[str, ...]
    unseen_objects: frozenset[str]
    ignore_label: int
    default_split: str
    splits: tuple[str, ...]
    setting: str
    convention: str
    obtain: str
    reader_args: dict[str, Any] = field(default_factory=dict)
    source_file: Path | None = None
    prompts: str | None = None  # generation suites: a JSONL file under suites/prompts/ (partbench.data.prompts)
    # Metrics `partbench table` shows by default where the generic seen/unseen/h-IoU columns would mislead (an
    # evaluation split with only unseen objects), and the footnote saying why.
    headline_metrics: tuple[str, ...] | None = None
    headline_note: str = ""
    # Getting the data (partbench.suites.datasets). A suite with `data_from` reads that suite's folder, and these are
    # that suite's.
    data_from: str | None = None
    downloads: tuple[Source, ...] = ()
    layouts: tuple[Layout, ...] = ()
    # Counts the dataset documents, per split ({"val": {"images": 850}}), and where they are documented; checked by
    # `data verify`, `run` and `score` (partbench.data.completeness).
    expected_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    expected_counts_source: str = ""

    # -- class bookkeeping -------------------------------------------------------------------------------------------
    @cached_property
    def unseen_mask(self) -> tuple[bool, ...]:
        return tuple(object_of(c) in self.unseen_objects for c in self.classes)

    @cached_property
    def seen_ids(self) -> tuple[int, ...]:
        return tuple(i for i, u in enumerate(self.unseen_mask) if not u)

    @cached_property
    def unseen_ids(self) -> tuple[int, ...]:
        return tuple(i for i, u in enumerate(self.unseen_mask) if u)

    @cached_property
    def parts_by_object(self) -> dict[str, tuple[int, ...]]:
        """Class ids of each object's parts (exact object-name match, the OV-PARTS oracle vocabulary)."""
        out: dict[str, list[int]] = {o: [] for o in self.object_classes}
        for i, c in enumerate(self.classes):
            out.setdefault(object_of(c), []).append(i)
        return {k: tuple(v) for k, v in out.items()}

    def part_ids_of(self, object_class: str) -> tuple[int, ...]:
        return self.parts_by_object.get(object_class, ())

    @cached_property
    def mirrored_pairs(self) -> tuple[tuple[int, int], ...]:
        """(left id, right id) for every pair of classes of one object whose phrases differ only by left/right."""
        index = {c: i for i, c in enumerate(self.classes)}
        pairs = []
        for i, c in enumerate(self.classes):
            part = part_of(c)
            mirror = mirrored_phrase(part)
            if mirror is None or "left" not in part.split():
                continue
            j = index.get(f"{object_of(c)}'s {mirror}")
            if j is not None:
                pairs.append((i, j))
        return tuple(pairs)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @cached_property
    def class_list_hash(self) -> str:
        return hashlib.sha256(json.dumps(list(self.classes)).encode()).hexdigest()[:16]

    # -- data --------------------------------------------------------------------------------------------------------
    def dataset_path(self, data_root: Path) -> Path:
        return Path(data_root) / self.dataset_dir

    def data_present(self, data_root: Path, split: str | None = None) -> bool:
        if self.task == "generation":  # its data is the prompt list in the prompts/ folder beside its YAML
            base = self.source_file.parent if self.source_file else SUITES_DIR
            return self.prompts is not None and (base / "prompts" / self.prompts).is_file()
        try:
            self.make_reader(data_root).check(split or self.default_split)
        except DataNotFoundError:
            return False
        return True

    def make_reader(self, data_root: Path):
        from partbench.data.readers import make_reader

        return make_reader(self, Path(data_root))

    def check_split(self, split: str | None) -> str:
        split = split or self.default_split
        if split not in self.splits:
            raise UnknownNameError(f"split of suite {self.name!r}", split, self.splits)
        return split


def _suite_files() -> dict[str, Path]:
    from partbench.registry import SUITES

    return {str(name): Path(path) for name, path in SUITES.items()}


def suite_names() -> list[str]:
    return sorted(_suite_files())


def load_suite(name: str) -> Suite:
    """Load a registered suite by name, or a suite YAML by path."""
    from partbench.suites.parse import parse_suite

    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        files = _suite_files()
        if name not in files:
            raise UnknownNameError("suite", name, files)
        path = files[name]
    return parse_suite(path)
