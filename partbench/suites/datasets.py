"""A suite's data facts, as its YAML states them: where each archive comes from (`download:`), how
`partbench data prepare` lays it out (`prepare:`), and whose data folder it shares (`data_from:`).

They are plain data, parsed here without numpy so that loading a suite stays light. The code that acts on them is
`partbench.data.download` and `partbench.data.prepare`; Python is needed only where a file format must be converted
(`convert:`). docs/adding-a-suite.md documents every key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError, UnknownNameError

if TYPE_CHECKING:
    from partbench.suites import Suite

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SOURCE_KEYS = ("file", "url", "sha256", "manual", "note")
_LAYOUT_KEYS = ("find", "target", "what", "copy", "include", "flatten", "convert")
# Keys that fix which folder a suite reads: a suite with `data_from` takes them from that suite and may not restate
# them, so that two suites can never disagree about one folder.
OWNED_BY_DATA_FROM = ("dataset_dir", "download", "prepare")


@dataclass(frozen=True)
class Source:
    """One downloadable archive (or, when `url` is None, the manual steps to get it)."""

    name: str
    file_name: str
    url: str | None
    sha256: str | None = None
    manual: str = ""
    note: str = ""


@dataclass(frozen=True)
class Layout:
    """How `partbench data prepare NAME` turns a downloaded archive or folder into the layout a reader expects."""

    name: str
    target: str  # folder under the data root that is written
    what: str  # names the source folder in "no ... found" messages
    find: tuple[str, ...]  # sub-folders that identify the source folder inside an archive
    copy: tuple[str, ...] = ()  # sub-folders of the source folder to copy; () copies all of it
    include: str = "*"  # file-name pattern (fnmatch) of the files copied
    flatten: bool = False  # copy each file straight into its `copy` folder, dropping deeper sub-folders
    convert: str | None = None  # a format converter: a name in partbench.data.prepare.CONVERTERS or "module:function"

    def marks(self, folder: Path) -> bool:
        """Whether `folder` is the source folder (it holds every `find` sub-folder)."""
        return all((folder / sub).is_dir() for sub in self.find)


# ---------------------------------------------------------------------------------------------------------------------
# Parsing (every error names the YAML file and the key)


def parse_downloads(path: Path, raw: dict) -> tuple[Source, ...]:
    out = []
    for name, entry in _entries(path, raw, "download", _SOURCE_KEYS).items():
        where = f"{path}: download.{name}"
        url, manual = _text(where, entry, "url"), _text(where, entry, "manual")
        sha256 = _text(where, entry, "sha256")
        if url is None and not manual:
            raise PartbenchError(f"{where}: give 'url', or 'manual' (the steps) for an archive that cannot be "
                                 "downloaded automatically.")
        if url is not None and not url.startswith(("http://", "https://")):
            raise PartbenchError(f"{where}: url {url!r} is not an http(s) URL.")
        if sha256 is not None and not _SHA256.fullmatch(sha256):
            raise PartbenchError(f"{where}: sha256 must be 64 lower-case hex digits, got {sha256!r}.")
        out.append(Source(name=name, file_name=_text(where, entry, "file", required=True), url=url, sha256=sha256,
                          manual=manual or "", note=_text(where, entry, "note") or ""))
    return tuple(out)


def parse_layouts(path: Path, raw: dict, dataset_dir: str) -> tuple[Layout, ...]:
    out = []
    for name, entry in _entries(path, raw, "prepare", _LAYOUT_KEYS).items():
        where = f"{path}: prepare.{name}"
        target = _text(where, entry, "target") or dataset_dir
        if not target:
            raise PartbenchError(f"{where}: needs 'target' (there is no dataset_dir to default to).")
        find = _folders(where, entry, "find")
        if not find:
            raise PartbenchError(f"{where}: needs 'find', the sub-folders that identify the source folder.")
        flatten = entry.get("flatten", False)
        if not isinstance(flatten, bool):
            raise PartbenchError(f"{where}: flatten must be true or false, got {flatten!r}.")
        out.append(Layout(
            name=name, target=_relative(where, "target", target), find=find, copy=_folders(where, entry, "copy"),
            what=_text(where, entry, "what") or f"{target} folder ({', '.join(f + '/' for f in find)})",
            include=_text(where, entry, "include") or "*", flatten=flatten, convert=_text(where, entry, "convert")))
    return tuple(out)


def data_owner(path: Path, raw: dict) -> Suite | None:
    """The suite whose data folder this one reads (`data_from`), or None when it owns its data."""
    name = raw.get("data_from")
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise PartbenchError(f"{path}: data_from must name a suite, got {name!r}.")
    restated = [k for k in OWNED_BY_DATA_FROM if k in raw]
    if restated:
        raise PartbenchError(f"{path}: data_from {name!r} already gives {', '.join(restated)}; state these only in "
                             f"that suite's YAML.")
    if name == raw.get("name"):
        raise PartbenchError(f"{path}: data_from names the suite itself.")
    from partbench.suites import load_suite

    # A path is taken relative to this YAML, so that a suite kept outside partbench can share a sibling's data.
    ref = str(path.parent / name) if name.endswith((".yaml", ".yml")) else name
    try:
        owner = load_suite(ref)
    except UnknownNameError as e:
        raise PartbenchError(f"{path}: data_from: {e}") from None
    if owner.data_from is not None:
        raise PartbenchError(f"{path}: data_from {name!r} takes its own data from {owner.data_from!r}; name that "
                             "suite instead.")
    return owner


def _entries(path: Path, raw: dict, key: str, allowed: tuple[str, ...]) -> dict[str, dict]:
    value = raw.get(key) or {}
    shape = (f"{key!r} maps each name (what `partbench data {key} NAME` takes) to its fields "
             f"({', '.join(allowed)}), e.g. `{key}: {{my-dataset: {{{allowed[0]}: ...}}}}`")
    if not isinstance(value, dict):
        raise PartbenchError(f"{path}: {shape}; got {value!r}.")
    for name, entry in value.items():
        if not isinstance(entry, dict):
            raise PartbenchError(f"{path}: {key}.{name} is not a mapping of fields: {shape}.")
        unknown = sorted(set(entry) - set(allowed))
        if unknown:
            raise PartbenchError(f"{path}: {key}.{name}: unknown key(s) {unknown}; known: {', '.join(allowed)}.")
    return {str(name): entry for name, entry in value.items()}


def _text(where: str, entry: dict, key: str, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise PartbenchError(f"{where}: missing required key {key!r}.")
        return None
    if not isinstance(value, str):
        raise PartbenchError(f"{where}: {key} must be a string, got {value!r} (quote it).")
    return value.strip()


def _folders(where: str, entry: dict, key: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PartbenchError(f"{where}: {key} must be a list of folder names, got {value!r}.")
    return tuple(_relative(where, key, v) for v in value)


def _relative(where: str, key: str, folder: str) -> str:
    """Prepare writes and reads only below its folders: refuse absolute paths and `..`."""
    p = PurePosixPath(folder)
    if p.is_absolute() or ".." in p.parts:
        raise PartbenchError(f"{where}: {key} {folder!r} must be a relative path without '..'.")
    return folder


# ---------------------------------------------------------------------------------------------------------------------
# Lookup by the name `partbench data download|prepare NAME` takes


def find_source(name: str) -> Source:
    return _find(name, "downloads", "dataset source")[0]


def find_layout(name: str) -> tuple[Layout, Suite]:
    """The layout named `name` and the suite that declares it (a converter may read its `reader_args`)."""
    return _find(name, "layouts", "dataset to prepare")


def _find(name: str, attr: str, kind: str) -> tuple[Any, Suite]:
    """An entry by its own name; or, for a suite with exactly one entry (its own or, through `data_from`, its
    owner's), by the suite's name."""
    from partbench.suites import load_suite, suite_names

    suites = [load_suite(n) for n in suite_names()]
    found: dict[str, tuple[Any, Suite]] = {}
    for suite in suites:
        if suite.data_from is not None:  # its entries are its owner's
            continue
        for entry in getattr(suite, attr):
            if entry.name in found:
                other = found[entry.name][1]
                raise PartbenchError(f"{suite.source_file} and {other.source_file} both define {entry.name!r}; "
                                     "give one of them another name.")
            found[entry.name] = (entry, suite)
    if name in found:
        return found[name]
    suite = next((s for s in suites if s.name == name), None)
    if suite is not None and len(getattr(suite, attr)) == 1:
        entry = getattr(suite, attr)[0]
        return found.get(entry.name, (entry, suite))
    raise UnknownNameError(kind, name, found)
