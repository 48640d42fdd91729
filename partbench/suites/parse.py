"""Suite YAML -> `Suite`: every key is read and checked here, and every error names the YAML file.

docs/adding-a-suite.md lists the keys. Reading a suite imports no numpy or torch (`partbench suites` and `partbench
table` load every suite).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError
from partbench.suites import SETTINGS, SUITES_DIR, Suite, object_of
from partbench.suites.datasets import data_owner, parse_downloads, parse_layouts


def parse_suite(path: Path) -> Suite:
    import yaml

    from partbench.yaml_io import safe_load

    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PartbenchError(f"{path}: invalid YAML ({e}).") from None
    if not isinstance(raw, dict):
        raise PartbenchError(f"{path}: a suite YAML is a mapping of keys (name, version, task, ...).")
    _check_keys(path, raw)

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
    splits = tuple(str(s) for s in _list(path, raw, "splits", ["val"]))
    suite = Suite(
        name=str(need("name")),
        version=str(need("version")),
        task=task,
        title=str(raw.get("title", raw["name"])),
        description=str(raw.get("description", "")).strip(),
        classes=classes,
        object_classes=object_classes,
        unseen_objects=frozenset(unseen),
        ignore_label=_int(path, raw, "ignore_label", 255),
        default_split=str(raw.get("default_split", "val")),
        splits=splits,
        setting=setting,
        convention=str(raw.get("convention", "ovparts")),
        source_file=path,
        prompts=str(raw["prompts"]) if generation else None,
        headline_metrics=tuple(_list(path, raw, "headline_metrics", [])) or None,
        headline_note=str(raw.get("headline_note", "")).strip(),
        **_data_fields(path, raw, generation),
    )
    if suite.default_split not in splits:
        raise PartbenchError(f"{path}: default_split {suite.default_split!r} is not among splits {list(splits)}.")
    if suite.num_classes >= suite.ignore_label:
        raise PartbenchError(f"{path}: {suite.num_classes} classes do not fit below ignore label {suite.ignore_label}.")
    return suite


# The keys every suite may have (docs/adding-a-suite.md); a task kind adds its own (`TaskKind.suite_keys`).
SUITE_KEYS = ("name", "version", "task", "title", "description", "reader", "reader_args", "dataset_dir", "data_from",
              "objects", "classes_json", "classes_builder", "object_classes", "unseen_objects", "ignore_label",
              "splits", "default_split", "setting", "convention", "obtain", "expected_counts", "download", "prepare",
              "headline_metrics", "headline_note", "prompts")


def _check_keys(path: Path, raw: dict) -> None:
    """A misspelt key would silently leave its default in place (`convetion: nanmean` scores with ovparts)."""
    import difflib

    from partbench.tasks.base import suite_keys_of

    known = (*SUITE_KEYS, *suite_keys_of(str(raw.get("task"))))
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise PartbenchError(f"{path}: unknown key {key!r}.{hint} Suite keys are listed in "
                                 "docs/adding-a-suite.md.")


def _data_fields(path: Path, raw: dict, generation: bool) -> dict[str, Any]:
    """Where the suite's data is and how to get it: its own keys, or those of the suite `data_from` names."""
    reader_args = raw.get("reader_args")
    if reader_args is not None and not isinstance(reader_args, dict):
        raise PartbenchError(f"{path}: reader_args must map argument names to values, got {reader_args!r}.")
    owner = data_owner(path, raw)
    if owner is not None:
        return dict(reader=str(raw.get("reader", owner.reader)),
                    reader_args=dict(owner.reader_args if reader_args is None else reader_args),
                    dataset_dir=owner.dataset_dir, data_from=owner.name, downloads=owner.downloads,
                    layouts=owner.layouts, obtain=str(raw.get("obtain", owner.obtain)).strip(),
                    expected_counts=owner.expected_counts, expected_counts_source=owner.expected_counts_source)
    optional = generation  # a generation suite reads only its prompt list
    for key in ("reader", "dataset_dir"):
        if not optional and key not in raw:
            raise PartbenchError(f"{path}: missing required key {key!r}.")
    dataset_dir = str(raw.get("dataset_dir", ""))
    expected, source = _expected_counts(path, raw)
    return dict(reader=str(raw.get("reader", "")), reader_args=dict(reader_args or {}), dataset_dir=dataset_dir,
                data_from=None, downloads=parse_downloads(path, raw),
                layouts=parse_layouts(path, raw, dataset_dir), obtain=str(raw.get("obtain", "")).strip(),
                expected_counts=expected, expected_counts_source=source)


def _expected_counts(path: Path, raw: dict) -> tuple[dict[str, dict[str, int]], str]:
    """`expected_counts: {source: "...", <split>: {images: N, samples: M}}`: a count is only worth checking with the
    document it comes from, so `source` is required."""
    value = raw.get("expected_counts")
    if value is None:
        return {}, ""
    if not isinstance(value, dict) or not isinstance(value.get("source"), str) or not value["source"].strip():
        raise PartbenchError(f"{path}: expected_counts must be a mapping with a 'source' (where the counts are "
                             f"documented) and one {{images: N}} mapping per split.")
    out = {}
    for split, counts in value.items():
        if split == "source":
            continue
        if not isinstance(counts, dict) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts.values()):
            raise PartbenchError(f"{path}: expected_counts.{split} must map what is counted (images, samples) to "
                                 f"non-negative integers, got {counts!r}.")
        out[str(split)] = {str(k): int(n) for k, n in counts.items()}
    return out, value["source"].strip()


def _list(path: Path, raw: dict, key: str, default: list) -> list:
    value = default if raw.get(key) is None else raw[key]
    if not isinstance(value, list):
        raise PartbenchError(f"{path}: {key} must be a list, got {value!r}.")
    return value


def _int(path: Path, raw: dict, key: str, default: int) -> int:
    value = default if raw.get(key) is None else raw[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise PartbenchError(f"{path}: {key} must be an integer, got {value!r}.")
    return value


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
        # Beside the YAML (a plugin's suite) first, then among the built-in class lists.
        json_path = next((d / "classes" / raw["classes_json"] for d in (path.parent, SUITES_DIR)
                          if (d / "classes" / raw["classes_json"]).is_file()),
                         SUITES_DIR / "classes" / raw["classes_json"])
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
