"""`partbench data prepare NAME --source PATH`: turn a downloaded archive or folder into the layout a reader expects.

The source is never modified: an archive is extracted into a staging folder under the data root (members with
absolute paths or `..` are refused), a folder is only read. The result is assembled in `<target>.preparing` and
renamed into place when complete, so an interrupted prepare leaves no half-made dataset behind. macOS `._*` resource
forks and `__MACOSX/` folders are dropped everywhere (protocol §1.1).

Per dataset:
- `pascal-part`: `Annotations_Part/*.mat` (from trainval.tar.gz) -> `<root>/pascal-part/Annotations_Part/`.
- `voc2010`: `VOCdevkit/VOC2010/{JPEGImages,ImageSets}` -> `<root>/VOCdevkit/VOC2010/`.
- `pascal-part-116`: the `PascalPart116/` tree -> `<root>/PascalPart116/`, plus `annotations_detectron2_part/
  <split>_obj_label_count.json` (object ids per image, as OV-PARTS' `mask_cls_collect.py` writes them) when absent.
- `ade20k-part-234`: the `ADE20KPart234/` tree -> `<root>/ADE20KPart234/`.
- `partimagenet`: PartImageNet_Seg -> `<root>/PartImageNet/`, the zero-shot preprocessing of
  `partimagenet_preprocess.py`: val keeps the 40 objects' images, train the 25 seen objects'; `{train,val}.json`
  move to the root, filtered to the kept images (their `categories` are kept: no reader uses them).
- `partimagenet-ood`: PartImageNet_OOD -> `<root>/PartImageNet_OOD/`, per-synset image folders flattened.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from partbench.errors import DataNotFoundError, PartbenchError

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
    from partbench.progress import progress_bar

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
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(m) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
        else:
            with tarfile.open(archive) as t, progress_bar(transient=not progress) as bar:
                task = bar.add_task(f"extracting {archive.name}", total=None, note="")
                for m in t:
                    bar.advance(task)
                    dest = safe(m.name)
                    if dest is None or not m.isfile():
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    src = t.extractfile(m)
                    with open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise PartbenchError(f"{archive}: cannot extract ({e}).") from None
    return into


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
    from partbench.progress import progress_bar

    with progress_bar(transient=not progress) as bar:
        task = bar.add_task(label, total=len(pairs), note="")
        for src, dest in pairs:
            _place(src, dest, move)
            bar.advance(task)
    return len(pairs)


# ---------------------------------------------------------------------------------------------------------------------
# Per-dataset layouts


def _pascal_part(found: Path, out: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    ann = found / "Annotations_Part"
    return [(f, out / "Annotations_Part" / f.name) for f in walk_files(ann) if f.suffix == ".mat"], []


def _voc2010(found: Path, out: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    pairs = [(f, out / f.relative_to(found)) for sub in ("JPEGImages", "ImageSets") for f in walk_files(found / sub)]
    return pairs, []


def _whole_tree(found: Path, out: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    return [(f, out / f.relative_to(found)) for f in walk_files(found)], []


def _find_json(found: Path, split: str) -> Path:
    for candidate in (found / f"{split}.json", found / "annotations" / split / f"{split}.json",
                      found / "annotations" / f"{split}.json"):
        if candidate.is_file():
            return candidate
    raise DataNotFoundError(f"{found}: no {split}.json (looked in ./, annotations/ and annotations/{split}/).")


def _partimagenet(found: Path, out: Path, spec_file: str, train_seen_only: bool, flatten: bool,
                  writes: dict[Path, str]) -> tuple[list[tuple[Path, Path]], list[str]]:
    from partbench.data.partimagenet import synset_of
    from partbench.paths import read_json
    from partbench.suites import SUITES_DIR

    spec = read_json(SUITES_DIR / "classes" / spec_file)
    all_synsets = set(spec["object_synsets"].values())
    seen_synsets = {spec["object_synsets"][o] for o in spec["seen_object_classes"] if o in spec["object_synsets"]}
    pairs, notes = [], []
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
            img["file_name"] = name if flatten else img["file_name"]
            pairs.append((by_name[name], out / "images" / split / name))
        doc["images"] = images
        doc["annotations"] = [a for a in doc.get("annotations", []) if a["image_id"] in ids]
        writes[out / f"{split}.json"] = json.dumps(doc)
        notes.append(f"{split}: kept {len(images)} images of {len(by_name)}")
    return pairs, notes


@dataclass(frozen=True)
class Layout:
    target: str
    what: str
    marker: Callable[[Path], bool]


LAYOUTS = {
    "pascal-part": Layout("pascal-part", "Annotations_Part/ folder", lambda d: (d / "Annotations_Part").is_dir()),
    "voc2010": Layout("VOCdevkit/VOC2010", "VOC2010 folder (JPEGImages/, ImageSets/)",
                      lambda d: (d / "JPEGImages").is_dir() and (d / "ImageSets").is_dir()),
    "pascal-part-116": Layout("PascalPart116", "PascalPart116 folder (images/, annotations_detectron2_part/)",
                              lambda d: (d / "images").is_dir() and (d / "annotations_detectron2_part").is_dir()),
    "ade20k-part-234": Layout("ADE20KPart234", "ADE20KPart234 folder (images/, annotations_detectron2_part/)",
                              lambda d: (d / "images").is_dir() and (d / "annotations_detectron2_part").is_dir()),
    "partimagenet": Layout("PartImageNet", "PartImageNet_Seg folder (images/train, images/val)",
                           lambda d: (d / "images" / "train").is_dir() and (d / "images" / "val").is_dir()),
    "partimagenet-ood": Layout("PartImageNet_OOD", "PartImageNet_OOD folder (images/train, images/val)",
                               lambda d: (d / "images" / "train").is_dir() and (d / "images" / "val").is_dir()),
}
ALIASES = {"partimagenet-to-pascal-part-116": "pascal-part-116"}


def prepare(name: str, source: Path, data_root: Path, force: bool = False, progress: bool = True) -> Prepared:
    from partbench.errors import UnknownNameError
    from partbench.paths import atomic_write_text

    name = ALIASES.get(name, name)
    if name not in LAYOUTS:
        raise UnknownNameError("dataset to prepare", name, LAYOUTS)
    layout = LAYOUTS[name]
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
        found = find_dir(top, layout.marker, layout.what, source)
        writes: dict[Path, str] = {}
        if name == "pascal-part":
            pairs, notes = _pascal_part(found, building)
        elif name == "voc2010":
            pairs, notes = _voc2010(found, building)
        elif name == "partimagenet":
            pairs, notes = _partimagenet(found, building, "partimagenet_zero_shot.json", True, True, writes)
        elif name == "partimagenet-ood":
            pairs, notes = _partimagenet(found, building, "partimagenet_ood.json", False, True, writes)
        else:
            pairs, notes = _whole_tree(found, building)
        files = copy_tree(pairs, move=is_archive, label=f"preparing {layout.target}", progress=progress)
        for path, text in writes.items():
            atomic_write_text(path, text)
        if name == "pascal-part-116":
            notes += write_obj_label_counts(building)
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
    from partbench.paths import atomic_write_json

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
