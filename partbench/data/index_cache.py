"""The sample index of a split, kept once per data root and rebuilt only where files changed.

Listing a split's samples can mean reading every annotation (a Pascal-Part .mat holds the objects of its image). A
reader that can index one *unit* at a time (an image) declares `index_units(split)`: the files every unit depends on
(a split list), and each unit's key and files. The index is then stored per data root, suite and split under
`<cache>/index/` (the cache of `partbench.store.inputs`, outside the data root, which may be read-only) with each
unit's file sizes and modification times; the next run re-indexes only the units whose files changed, and a run
whose predictions and rows are all reusable reads no annotation file. Writes are atomic, so concurrent shards at worst
index the same units twice. A large first build indexes in parallel processes (`index_workers`).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from partbench.data.readers import SampleIndex
from partbench.data.types import SampleRef
from partbench.errors import PartbenchError
from partbench.store.atomic import atomic_write_json, read_json
from partbench.store.inputs import cache_dir
from partbench.store.run_dir import canonical_json

INDEX_SCHEMA = 1


class UnitReader(Protocol):
    skipped_reasons: tuple[str, ...]  # the `skipped` keys of its index, in order

    def index_units(self, split: str) -> tuple[list[Path], list[tuple[str, list[Path]]]]:
        """(files every unit depends on, [(unit key, its files)]) in index order."""

    def index_unit(self, split: str, key: str) -> tuple[list[SampleRef], dict[str, int]]:
        """The samples of one unit, and what it skipped."""


def index_from_units(reader: UnitReader, split: str) -> SampleIndex:
    """The index built unit by unit, with nothing cached."""
    _, units = reader.index_units(split)
    refs: list[SampleRef] = []
    skipped = dict.fromkeys(reader.skipped_reasons, 0)
    for unit_refs, unit_skipped in _index_units(reader, split, [key for key, _ in units]):
        refs += unit_refs
        for reason, n in unit_skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
    return SampleIndex(refs=refs, skipped=skipped)


def cached_index(reader: Any, data_root: Path, split: str) -> SampleIndex:
    """`reader.index(split)`, from the cache where the reader indexes by units."""
    if not hasattr(reader, "index_units"):
        return reader.index(split)
    suite = reader.suite
    root = Path(data_root).resolve()
    identity = {"schema": INDEX_SCHEMA, "reader": f"{type(reader).__module__}.{type(reader).__qualname__}",
                "reader_args": suite.reader_args, "suite": suite.name, "version": suite.version,
                "classes": suite.class_list_hash, "split": split, "root": str(root)}
    digest = hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:16]
    path = cache_dir() / "index" / f"{suite.name}-{split}-{digest}.json"
    shared, units = reader.index_units(split)
    old = _read(path, identity)
    shared_stats = _stats(shared)
    old_units = old.get("units", {}) if old.get("shared") == shared_stats else {}

    stats = {key: _stats(files) for key, files in units}
    todo = [key for key, _ in units if old_units.get(key, {}).get("stats") != stats[key]]
    fresh = dict(zip(todo, _index_units(reader, split, todo)))
    refs: list[SampleRef] = []
    skipped = dict.fromkeys(reader.skipped_reasons, 0)
    entries: dict[str, Any] = {}
    for key, _ in units:
        if key in fresh:
            unit_refs, unit_skipped = fresh[key]
            entry = {"stats": stats[key], "refs": [_ref_json(r, root) for r in unit_refs], "skipped": unit_skipped}
        else:
            entry = old_units[key]
        entries[key] = entry
        refs += [_ref_from_json(r, root) for r in entry["refs"]]
        for reason, n in entry["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + n
    changed = bool(todo) or len(old_units) != len(units)
    if changed:
        try:
            atomic_write_json(path, identity | {"shared": shared_stats, "units": entries})
        except OSError:
            pass  # an unwritable cache only costs indexing again
    return SampleIndex(refs=refs, skipped=skipped)


def index_workers(units: int) -> int:
    """Processes for indexing `units` units: `$PARTBENCH_INDEX_WORKERS`, else one per core (at most 8) where there
    are enough units to repay starting them."""
    configured = os.environ.get("PARTBENCH_INDEX_WORKERS")
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise PartbenchError(f"PARTBENCH_INDEX_WORKERS must be a whole number, got {configured!r}.") from None
    return min(os.cpu_count() or 1, 8) if units >= _PARALLEL_FROM else 1


_PARALLEL_FROM = 200  # below this, starting processes costs more than indexing (a .mat parses in ~8 ms)
_FORKED: tuple[Any, str] | None = None  # (reader, split) inherited by forked index workers


def _index_forked(key: str) -> tuple[list[SampleRef], dict[str, int]]:
    reader, split = _FORKED
    return reader.index_unit(split, key)


def _index_units(reader: UnitReader, split: str, keys: list[str],
                 workers: int | None = None) -> list[tuple[list[SampleRef], dict[str, int]]]:
    """Each key's (samples, skipped) in key order; parsing annotations is CPU-bound Python (scipy's .mat reader
    holds the GIL), so a large first build runs in forked processes that inherit the reader."""
    global _FORKED
    from partbench.console import progress_bar

    workers = index_workers(len(keys)) if workers is None else workers
    out = []
    with progress_bar(transient=True, disable=len(keys) < 50) as bar:
        task = bar.add_task(f"indexing {reader.suite.name}/{split}", total=len(keys), note="")
        if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            for key in keys:
                out.append(reader.index_unit(split, key))
                bar.advance(task)
            return out
        _FORKED = (reader, split)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for result in pool.imap(_index_forked, keys, chunksize=max(1, min(64, len(keys) // (4 * workers)))):
                    out.append(result)
                    bar.advance(task)
        finally:
            _FORKED = None
    return out


def _read(path: Path, identity: dict[str, Any]) -> dict[str, Any]:
    try:
        data = read_json(path)
    except (PartbenchError, OSError):  # absent or unreadable: indexed again
        return {}
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in identity.items()):
        return {}
    return data


def _stats(files: Sequence[Path]) -> list[list[int] | None]:
    out: list[list[int] | None] = []
    for f in files:
        try:
            st = Path(f).stat()
            out.append([st.st_size, st.st_mtime_ns])
        except OSError:
            out.append(None)  # absence is a state too: the unit is indexed again when the file appears
    return out


def _ref_json(ref: SampleRef, root: Path) -> dict[str, Any]:
    try:
        image = ref.image_path.resolve().relative_to(root).as_posix()
    except ValueError:
        image = str(ref.image_path)
    return {"id": ref.id, "image_id": ref.image_id, "image": image, "object": ref.object_class, "extra": ref.extra}


def _ref_from_json(data: dict[str, Any], root: Path) -> SampleRef:
    return SampleRef(id=data["id"], image_id=data["image_id"], image_path=root / data["image"],
                     object_class=data["object"], extra=dict(data["extra"]))
