"""Suites: one YAML file each in this folder, loaded into `Suite` (DESIGN §3).

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

from partbench.errors import DataNotFoundError, PartbenchError, UnknownNameError

SUITES_DIR = Path(__file__).parent
SETTINGS = ("oracle-object", "pred-all")

_SIDE_SWAP = {"left": "right", "right": "left"}


def object_of(class_name: str) -> str:
    """The object of a part class `"<object>'s <part>"` (protocol §3: the split is by object)."""
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
        """Class ids of each object's parts (exact object-name match: the OV-PARTS oracle vocabulary, protocol §4.2)."""
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
        if self.task == "generation":  # its data is the prompt list shipped with partbench
            return self.prompts is not None and (SUITES_DIR / "prompts" / self.prompts).is_file()
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
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.yaml"))}


def suite_names() -> list[str]:
    return list(_suite_files())


def load_suite(name: str) -> Suite:
    """Load a registered suite by name (the YAML file's stem), or a suite YAML by path."""
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        files = _suite_files()
        if name not in files:
            raise UnknownNameError("suite", name, files)
        path = files[name]
    return _parse_suite(path)


def _parse_suite(path: Path) -> Suite:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PartbenchError(f"{path}: invalid YAML ({e}).") from None

    def need(key: str) -> Any:
        if key not in raw:
            raise PartbenchError(f"{path}: missing required key {key!r}.")
        return raw[key]

    # A generation suite is a prompt list: it needs no class list, reader or dataset folder.
    generation = raw.get("task") == "generation"
    if generation and "classes_json" not in raw and "objects" not in raw:
        classes, object_classes, unseen = (), (), []
    else:
        classes, object_classes, unseen = _parse_classes(path, raw)
    if generation and not raw.get("prompts"):
        raise PartbenchError(f"{path}: a generation suite needs 'prompts' (a JSONL file under suites/prompts/).")
    task = need("task")
    from partbench.tasks.base import suite_tasks

    if task not in suite_tasks():
        raise PartbenchError(f"{path}: task {task!r} is not one of {', '.join(suite_tasks())}.")
    setting = raw.get("setting", "oracle-object")
    if setting not in SETTINGS:
        raise PartbenchError(f"{path}: setting {setting!r} is not one of {', '.join(SETTINGS)}.")
    splits = tuple(raw.get("splits", ["val"]))
    suite = Suite(
        name=str(need("name")),
        version=str(need("version")),
        task=task,
        title=str(raw.get("title", raw["name"])),
        description=str(raw.get("description", "")).strip(),
        reader=str(raw.get("reader", "")) if generation else str(need("reader")),
        dataset_dir=str(raw.get("dataset_dir", "")) if generation else str(need("dataset_dir")),
        classes=classes,
        object_classes=object_classes,
        unseen_objects=frozenset(unseen),
        ignore_label=int(raw.get("ignore_label", 255)),
        default_split=str(raw.get("default_split", "val")),
        splits=splits,
        setting=setting,
        convention=str(raw.get("convention", "ovparts")),
        obtain=str(raw.get("obtain", "")).strip(),
        reader_args=dict(raw.get("reader_args", {})),
        source_file=path,
        prompts=str(raw["prompts"]) if generation else None,
        headline_metrics=tuple(raw["headline_metrics"]) if raw.get("headline_metrics") else None,
        headline_note=str(raw.get("headline_note", "")).strip(),
    )
    if suite.default_split not in splits:
        raise PartbenchError(f"{path}: default_split {suite.default_split!r} is not among splits {list(splits)}.")
    if suite.num_classes >= suite.ignore_label:
        raise PartbenchError(f"{path}: {suite.num_classes} classes do not fit below ignore label {suite.ignore_label}.")
    return suite


def _parse_classes(path: Path, raw: dict) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """Classes come from an official class-list JSON (`classes_json`), a builder (`classes_builder: "module:function"`
    returning the same keys, for a list derived from a data file), or inline (`objects: {obj: [parts]}`)."""
    if "classes_builder" in raw:
        import importlib

        module, _, attr = str(raw["classes_builder"]).partition(":")
        try:
            spec = getattr(importlib.import_module(module), attr)()
        except (ImportError, AttributeError) as e:
            raise PartbenchError(f"{path}: cannot load classes_builder {raw['classes_builder']!r} ({e}).") from None
        classes = tuple(spec["classes"])
        object_classes = tuple(spec.get("object_classes") or dict.fromkeys(object_of(c) for c in classes))
        unseen = list(raw.get("unseen_objects", spec.get("unseen_object_classes", [])))
    elif "classes_json" in raw:
        json_path = SUITES_DIR / "classes" / raw["classes_json"]
        try:
            spec = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise PartbenchError(f"{path}: cannot read classes_json {json_path} ({e}).") from None
        classes = tuple(spec["classes"])
        object_classes = tuple(spec.get("object_classes") or dict.fromkeys(object_of(c) for c in classes))
        unseen = list(raw.get("unseen_objects", spec.get("unseen_object_classes", [])))
    elif "objects" in raw:
        objects = raw["objects"]
        if not isinstance(objects, dict):
            raise PartbenchError(f"{path}: 'objects' must map each object to its list of part phrases.")
        classes = tuple(f"{obj}'s {part}" for obj, parts in objects.items() for part in (parts or []))
        object_classes = tuple(raw.get("object_classes", objects.keys()))
        unseen = list(raw.get("unseen_objects", []))
    else:
        raise PartbenchError(f"{path}: give the class list as 'classes_json' or as 'objects'.")
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise PartbenchError(f"{path}: duplicate class names {dup}.")
    unknown = [u for u in unseen if u not in object_classes]
    if unknown:
        raise PartbenchError(f"{path}: unseen objects {unknown} are not among the object classes.")
    return classes, object_classes, unseen
