"""`partbench data prepare NAME --source PATH`: turn a downloaded archive or folder into the layout a reader expects.

The source is never modified: an archive is extracted into a staging folder under the data root (members with
absolute paths or `..` are refused), a folder is only read. The result is assembled in `<target>.preparing` and
renamed into place when complete, so an interrupted prepare leaves no half-made dataset behind. macOS `._*` resource
forks and `__MACOSX/` folders are dropped everywhere.

What to do per dataset is data: the `prepare:` entry of a suite YAML (`partbench.suites.datasets.Layout`) says which
folder of the source to find, which files to copy and where. Python here is only for what a file format needs
(`convert:`, the `CONVERTERS` below):
- `partimagenet`: the zero-shot preprocessing of `partimagenet_preprocess.py`: val keeps the suite's objects' images,
  train only the seen objects' when the suite's `reader_args.train_objects` is `seen`; per-synset image folders are
  flattened; `{train,val}.json` move to the root, filtered to the kept images (their `categories` are kept: no reader
  uses them).
- `ovparts-obj-label-counts`: the tree as it is, plus `annotations_detectron2_part/<split>_obj_label_count.json`
  (object ids per image, as OV-PARTS' `mask_cls_collect.py` writes them) when absent.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

from partbench.errors import DataNotFoundError, PartbenchError, UnknownNameError
from partbench.suites.datasets import Layout, find_layout

if TYPE_CHECKING:
    from partbench.suites import Suite

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def is_junk(name: str) -> bool:
    """macOS metadata that archives made on a Mac carry: never part of a dataset."""
    return name.startswith("._") or name == ".DS_Store" or name == "__MACOSX"


@dataclass
class Prepared:
    target: Path
    files: int
    notes: list[str]


# ---------------------------------------------------------------------------------------------------------------------
# Source handling


def extract(archive: Path, into: Path, progress: bool = True) -> Path:
    """Extract `archive` into `into` (created), refusing unsafe member paths and skipping macOS junk."""
    from partbench.console import progress_bar

    into.mkdir(parents=True, exist_ok=True)
    root = into.resolve()

    def safe(name: str) -> Path | None:
        parts = Path(name).parts
        if any(is_junk(p) for p in parts):
            return None
        dest = (into / name).resolve()
        if Path(name).is_absolute() or ".." in parts or root not in (dest, *dest.parents):
            raise PartbenchError(f"{archive}: member {name!r} would be written outside the target folder; refused.")
        return dest

    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z, progress_bar(transient=not progress) as bar:
                members = z.infolist()
                task = bar.add_task(f"extracting {archive.name}", total=len(members), note="")
                for m in members:
                    bar.advance(task)
                    dest = safe(m.filename)
                    if dest is None or m.is_dir():
                        continue
                    if stat.S_ISLNK(m.external_attr >> 16):
                        raise PartbenchError(_link_refused(archive, m.filename))
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(m) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
        else:
            with tarfile.open(archive) as t, progress_bar(transient=not progress) as bar:
                task = bar.add_task(f"extracting {archive.name}", total=None, note="")
                for m in t:
                    bar.advance(task)
                    dest = safe(m.name)
                    if dest is not None and (m.issym() or m.islnk()):
                        raise PartbenchError(_link_refused(archive, m.name))
                    if dest is None or not m.isfile():
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    src = t.extractfile(m)
                    with open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise PartbenchError(f"{archive}: cannot extract ({e}).") from None
    return into


def _link_refused(archive: Path, member: str) -> str:
    # A link's target is outside what partbench checks (it may point anywhere on the machine), and skipping it would
    # leave a file silently missing from the dataset.
    return (f"{archive}: member {member!r} is a link; released datasets hold plain files. Extract the archive "
            f"yourself, check where its links point, and pass the folder to `partbench data prepare --source`.")


def find_dir(top: Path, test: Callable[[Path], bool], what: str, source: Path, max_depth: int = 5) -> Path:
    """The shallowest folder under `top` (itself included) for which `test` holds."""
    frontier = [top]
    for _ in range(max_depth + 1):
        for d in frontier:
            if test(d):
                return d
        frontier = sorted(c for d in frontier for c in d.iterdir() if c.is_dir() and not is_junk(c.name))
        if not frontier:
            break
    raise DataNotFoundError(f"{source}: no {what} found in it.")


def walk_files(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not is_junk(d))
        for f in sorted(filenames):
            if not is_junk(f):
                yield Path(dirpath) / f


def _place(src: Path, dest: Path, move: bool) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(src, dest)
    else:
        shutil.copy2(src, dest)


def copy_tree(pairs: list[tuple[Path, Path]], move: bool, label: str, progress: bool = True) -> int:
    from partbench.console import progress_bar

    with progress_bar(transient=not progress) as bar:
        task = bar.add_task(label, total=len(pairs), note="")
        for src, dest in pairs:
            _place(src, dest, move)
            bar.advance(task)
    return len(pairs)


# ---------------------------------------------------------------------------------------------------------------------
# Layouts: the generic copy a `prepare:` entry describes, and the converters a file format needs


@dataclass
class Plan:
    """What preparing writes into the new folder: files copied (moved, from an extracted archive), files written from
    text, notes for the user, and a last step run on the assembled folder."""

    pairs: list[tuple[Path, Path]]
    writes: dict[Path, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    finish: Callable[[Path], list[str]] | None = None


# A format converter: (source folder found, folder being built, the layout, the suite declaring it) -> Plan.
Converter = Callable[[Path, Path, Layout, "Suite"], Plan]


def copy_plan(found: Path, out: Path, layout: Layout) -> Plan:
    """The layout as data: the `copy` folders (all of `found` when none), files matching `include`, at the same
    relative path or, with `flatten`, straight in their `copy` folder."""
    pairs = []
    for sub in layout.copy or ("",):
        for f in walk_files(found / sub if sub else found):
            if fnmatch(f.name, layout.include):
                pairs.append((f, out / (Path(sub) / f.name if layout.flatten else f.relative_to(found))))
    return Plan(pairs)


def _find_json(found: Path, split: str) -> Path:
    for candidate in (found / f"{split}.json", found / "annotations" / split / f"{split}.json",
                      found / "annotations" / f"{split}.json"):
        if candidate.is_file():
            return candidate
    raise DataNotFoundError(f"{found}: no {split}.json (looked in ./, annotations/ and annotations/{split}/).")


def _partimagenet(found: Path, out: Path, layout: Layout, suite: Suite) -> Plan:
    """PartImageNet COCO release -> the reader's layout, filtered as the suite's reader filters
    (`reader_args.class_spec`, `reader_args.train_objects`)."""
    from partbench.data.partimagenet import synset_of
    from partbench.store.atomic import read_json
    from partbench.suites import SUITES_DIR

    if "class_spec" not in suite.reader_args:
        raise PartbenchError(f"{suite.source_file}: prepare.{layout.name}: convert 'partimagenet' needs "
                             "reader_args.class_spec (the class JSON naming the objects' synsets).")
    spec = read_json(SUITES_DIR / "classes" / suite.reader_args["class_spec"])
    train_seen_only = suite.reader_args.get("train_objects", "seen") == "seen"
    all_synsets = set(spec["object_synsets"].values())
    seen_synsets = {spec["object_synsets"][o] for o in spec["seen_object_classes"] if o in spec["object_synsets"]}
    pairs, notes, writes = [], [], {}
    for split in ("train", "val"):
        image_dir = found / "images" / split
        if not image_dir.is_dir():
            raise DataNotFoundError(f"{found}: no images/{split}/ folder.")
        keep = seen_synsets if (split == "train" and train_seen_only) else all_synsets
        by_name = {f.name: f for f in walk_files(image_dir)}  # flattens per-synset folders
        doc = read_json(_find_json(found, split))
        images = [img for img in doc.get("images", []) if synset_of(img["file_name"]) in keep]
        ids = {img["id"] for img in images}
        missing = [img["file_name"] for img in images if Path(img["file_name"]).name not in by_name]
        if missing:
            raise DataNotFoundError(f"{image_dir}: {len(missing)} images listed in {split}.json are missing "
                                    f"(e.g. {missing[0]}).")
        for img in images:
            name = Path(img["file_name"]).name
            img["file_name"] = name  # the images are flattened
            pairs.append((by_name[name], out / "images" / split / name))
        doc["images"] = images
        doc["annotations"] = [a for a in doc.get("annotations", []) if a["image_id"] in ids]
        writes[out / f"{split}.json"] = json.dumps(doc)
        notes.append(f"{split}: kept {len(images)} images of {len(by_name)}")
    return Plan(pairs, writes, notes)


def _ovparts_obj_label_counts(found: Path, out: Path, layout: Layout, suite: Suite) -> Plan:
    plan = copy_plan(found, out, layout)
    plan.finish = write_obj_label_counts
    return plan


CONVERTERS: dict[str, Converter] = {
    "partimagenet": _partimagenet,
    "ovparts-obj-label-counts": _ovparts_obj_label_counts,
}


def converter(name: str) -> Converter:
    """A built-in converter by name, or any function by `"module:function"` (a converter outside partbench)."""
    if ":" in name:
        from partbench.plugins import resolve

        try:
            return resolve(name)
        except (ImportError, AttributeError) as e:
            raise PartbenchError(f"prepare converter {name!r} cannot be loaded ({e}).") from None
    if name not in CONVERTERS:
        raise UnknownNameError("prepare converter", name, CONVERTERS)
    return CONVERTERS[name]


def prepare(name: str, source: Path, data_root: Path, force: bool = False, progress: bool = True) -> Prepared:
    from partbench.store.atomic import atomic_write_text

    layout, suite = find_layout(name)
    name = layout.name  # a suite with data_from prepares its owner's folder
    source = Path(source).expanduser()
    if not source.exists():
        raise DataNotFoundError(f"{source}: source not found.")
    data_root = Path(data_root)
    target = data_root / layout.target
    if target.exists() and not force:
        raise PartbenchError(f"{target} already exists; `partbench data verify` checks it, --force replaces it.")
    staging = data_root / f".staging-{name}"
    building = target.with_name(target.name + ".preparing")
    for leftover in (staging, building):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        is_archive = source.is_file()
        if is_archive:
            if not source.name.lower().endswith(ARCHIVE_SUFFIXES):
                raise PartbenchError(f"{source}: expected a folder or a .zip/.tar/.tar.gz archive.")
            top = extract(source, staging, progress)
        else:
            top = source
        found = find_dir(top, layout.marks, layout.what, source)
        if layout.convert:
            plan = converter(layout.convert)(found, building, layout, suite)
        else:
            plan = copy_plan(found, building, layout)
        files = copy_tree(plan.pairs, move=is_archive, label=f"preparing {layout.target}", progress=progress)
        for path, text in plan.writes.items():
            atomic_write_text(path, text)
        notes = plan.notes + (plan.finish(building) if plan.finish else [])
        if plan.writes or plan.finish:  # count what the folder holds: a converter may write every file itself
            files = sum(1 for _ in walk_files(building))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(building, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(building, ignore_errors=True)
    return Prepared(target=target, files=files, notes=notes)


def write_obj_label_counts(root: Path) -> list[str]:
    """`annotations_detectron2_part/<split>_obj_label_count.json` = {"<id>.png": [object ids]} (255 removed), as
    OV-PARTS' `mask_cls_collect.py` writes it, for each split that lacks one."""
    import numpy as np

    from partbench.data.images import read_label_png
    from partbench.store.atomic import atomic_write_json

    notes = []
    obj_root = root / "annotations_detectron2_obj"
    for split_dir in sorted(p for p in obj_root.iterdir() if p.is_dir()) if obj_root.is_dir() else []:
        out = root / "annotations_detectron2_part" / f"{split_dir.name}_obj_label_count.json"
        if out.exists():
            continue
        counts = {p.name: [int(v) for v in np.unique(read_label_png(p)) if v != 255]
                  for p in sorted(split_dir.glob("*.png")) if not is_junk(p.name)}
        atomic_write_json(out, counts)
        notes.append(f"wrote {out.name} ({len(counts)} images)")
    return notes
