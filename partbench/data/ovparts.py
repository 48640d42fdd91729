"""Reader for the OV-PARTS semantic layout (Pascal-Part-116 and the generated demo suite).

Layout (see docs/suites.md): `images/<split>/<id>.<ext>`, `annotations_detectron2_part/<split>/<id>.png`
(part class ids), `annotations_detectron2_obj/<split>/<id>.png` (object class ids), 255 = ignore in both.

Samples are (image, object class) pairs, as in OV-PARTS' `*_obj_condition` test sets: the object mask is the union of
the class's pixels in the object PNG, and part ground truth outside it is set to ignore. Two kinds of pairs are
skipped and counted instead of being scored (where the official loader silently substitutes a random
other sample): objects that have no part classes (at indexing), and objects whose restricted part ground truth is
empty (when loaded: see `Sample.has_labels`).

An image whose part map is there but whose image file or object map is not is left out of the index with all its
samples and counted per image (`missing_files`, a key present only when some are); `inventory` names the missing file,
so `run` and `score` refuse the split unless `--allow-incomplete-data`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from partbench.data.completeness import Inventory, file_names, missing_partners
from partbench.data.images import RecentDecodes, read_label_png, shared
from partbench.data.readers import SampleIndex, require_paths
from partbench.data.types import ObjectAnnotation, Sample, SampleRef
from partbench.errors import PartbenchError
from partbench.suites import Suite

PART_DIR = "annotations_detectron2_part"
OBJ_DIR = "annotations_detectron2_obj"
IMAGE_DIR = "images"


def sample_id(image_id: str, object_class: str) -> str:
    """The sample key, also the prediction file stem: `2008_000002__dog`."""
    return f"{image_id}__{object_class.replace(' ', '_')}"


class OVPartsSemanticReader:
    def __init__(self, suite: Suite, data_root: Path, image_ext: str = "jpg"):
        self.suite = suite
        self.root = suite.dataset_path(data_root)
        self.image_ext = image_ext.lstrip(".")
        # An image's part and object maps, decoded once for all of its samples (loader threads included).
        self._maps: RecentDecodes[tuple[str, str], tuple[np.ndarray, np.ndarray]] = RecentDecodes(self._read_maps)
        self._counts: dict[str, dict[str, list[int]] | None] = {}
        self._split_dirs: dict[str, tuple[Path, ...]] = {}
        self._last_paths: tuple[tuple[str, str], tuple[Path, Path, Path]] | None = None

    # -- presence ----------------------------------------------------------------------------------------------------
    def check(self, split: str) -> None:
        require_paths(self.suite, self.root, split, [self.root / d / split for d in (IMAGE_DIR, PART_DIR, OBJ_DIR)])

    def paths(self, split: str, image_id: str) -> tuple[Path, Path, Path]:
        # Asked for once per sample (input fingerprints) and per image (index, loading): the last answer is kept, and
        # the split's folders are joined once (pathlib joins cost more than the rest of a scored sample's overhead).
        last = self._last_paths
        if last is not None and last[0] == (split, image_id):
            return last[1]
        if split not in self._split_dirs:
            self._split_dirs[split] = tuple(self.root / d / split for d in (IMAGE_DIR, PART_DIR, OBJ_DIR))
        images, parts, objects = self._split_dirs[split]
        found = (images / f"{image_id}.{self.image_ext}", parts / f"{image_id}.png", objects / f"{image_id}.png")
        self._last_paths = ((split, image_id), found)
        return found

    # -- listing -----------------------------------------------------------------------------------------------------
    def image_ids(self, split: str) -> list[str]:
        self.check(split)
        # macOS archives ship `._*` resource forks next to every file: never treat them as images.
        return sorted(p.stem for p in (self.root / PART_DIR / split).glob("*.png") if not p.name.startswith("._"))

    def annotation_files(self, split: str) -> list[Path]:
        """The files a split's ground truth is read from (for fingerprints of what was fitted on them): the part and
        object maps of the images the index keeps (none of one left out for a missing file, so that a fit without it
        has another fingerprint)."""
        ids = self.image_ids(split)
        images, objects = (file_names(self.root / d / split) for d in (IMAGE_DIR, OBJ_DIR))  # not a stat per file
        return [p for image_id in ids if f"{image_id}.{self.image_ext}" in images and f"{image_id}.png" in objects
                for p in self.paths(split, image_id)[1:]]

    def input_files(self, ref: SampleRef) -> list[Path]:
        """Every file the sample is read from: its image and the image's part and object maps."""
        return list(self.paths(ref.extra["split"], ref.image_id))

    def inventory(self, split: str) -> Inventory:
        """Images and both annotation maps, each matched to the others by file stem (as detectron2 pairs them)."""
        self.check(split)
        groups = []
        for folder, ext in ((IMAGE_DIR, self.image_ext), (PART_DIR, "png"), (OBJ_DIR, "png")):
            directory = self.root / folder / split
            files = {p.stem: p for p in directory.glob(f"*.{ext}") if not p.name.startswith("._")}
            groups.append((directory, f".{ext}", files))
        complete = set.intersection(*(set(files) for _, _, files in groups))
        return Inventory(counts={"images": len(complete)}, problems=missing_partners(groups))

    skipped_reasons = ("no_part_classes", "empty_ground_truth")

    def index(self, split: str) -> SampleIndex:
        """All (image, object class) samples of a split in a fixed order: image id, then object id.

        Objects come from the official `<split>_obj_label_count.json` when present (no image decoding), else from
        the object PNGs. Samples whose restricted part ground truth turns out empty are found when loaded (see
        `Sample.has_labels`) and skipped by the scorer, which counts them.
        """
        from partbench.data.index_cache import index_from_units

        return index_from_units(self, split)

    def index_units(self, split: str) -> tuple[list[Path], list[tuple[str, list[Path]]]]:
        """Every image's samples depend on the object-count JSON and on the image's object map and image file (their
        presence included: an image left out for a missing file is indexed again once the file is there)."""
        counts = self.root / PART_DIR / f"{split}_obj_label_count.json"
        units = []
        for image_id in self.image_ids(split):
            image_path, _, obj_path = self.paths(split, image_id)
            units.append((image_id, [obj_path, image_path]))
        return [counts], units

    def index_unit(self, split: str, image_id: str) -> tuple[list[SampleRef], dict[str, int]]:
        image_path, _, obj_path = self.paths(split, image_id)
        if not (image_path.is_file() and obj_path.is_file()):
            # Left out and counted (`inventory` names the file): the unit's stats hold the absence, so the image is
            # indexed again when the file is restored.
            return [], {"missing_files": 1}
        counts = self._object_counts(split)
        object_ids = counts.get(f"{image_id}.png") if counts is not None else None
        if object_ids is None:
            object_ids = np.unique(read_label_png(obj_path)).tolist()
        refs, skipped = [], {"no_part_classes": 0}
        for obj_id in sorted(int(o) for o in object_ids):
            if obj_id == self.suite.ignore_label:
                continue
            name = self._object_name(obj_id, obj_path)
            if not self.suite.part_ids_of(name):
                skipped["no_part_classes"] += 1
                continue
            refs.append(SampleRef(id=sample_id(image_id, name), image_id=image_id, image_path=image_path,
                                  object_class=name, extra={"split": split, "object_id": obj_id}))
        return refs, skipped

    def _object_counts(self, split: str) -> dict[str, list[int]] | None:
        """`{"<id>.png": [object ids]}` written by OV-PARTS' `mask_cls_collect.py`, or None if absent (read once)."""
        if split not in self._counts:
            self._counts[split] = self._read_object_counts(split)
        return self._counts[split]

    def _read_object_counts(self, split: str) -> dict[str, list[int]] | None:
        path = self.root / PART_DIR / f"{split}_obj_label_count.json"
        if not path.is_file():
            return None
        from partbench.store.atomic import read_json

        data = read_json(path)
        if not isinstance(data, dict):
            raise PartbenchError(f"{path}: expected {{\"<image id>.png\": [object ids]}}.")
        return data

    # -- loading -----------------------------------------------------------------------------------------------------
    def load(self, ref: SampleRef) -> Sample:
        part, obj = self._maps.get((ref.extra["split"], ref.image_id))
        mask = obj == ref.extra["object_id"]
        # The part labels inside the object, ignore elsewhere: `np.where(mask, part, ignore)`'s values and dtype,
        # written by a masked copy, which is several times faster on full-size maps.
        ignore = self.suite.ignore_label
        gt = np.full(part.shape, ignore, dtype=np.promote_types(part.dtype, np.min_scalar_type(ignore)))
        np.copyto(gt, part, where=mask)
        return Sample(
            ref=ref,
            objects=[ObjectAnnotation(class_name=ref.object_class, mask=mask)],
            part_label_map=gt,
            ignore_label=ignore,
        )

    def _read_maps(self, key: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
        _, part_path, obj_path = self.paths(*key)
        part, obj = self._read_pair(part_path, obj_path)
        return shared(part), shared(obj)

    def _read_pair(self, part_path: Path, obj_path: Path) -> tuple[np.ndarray, np.ndarray]:
        part = read_label_png(part_path)
        obj = read_label_png(obj_path)
        if part.shape != obj.shape:
            raise PartbenchError(
                f"{obj_path}: object map is {obj.shape[1]}x{obj.shape[0]} but part map {part_path} is "
                f"{part.shape[1]}x{part.shape[0]}."
            )
        bad = (part != self.suite.ignore_label) & (part >= self.suite.num_classes)
        if bad.any():
            raise PartbenchError(
                f"{part_path}: part label {int(part[bad][0])} is out of range for suite {self.suite.name!r} "
                f"({self.suite.num_classes} classes, ignore = {self.suite.ignore_label})."
            )
        return part, obj

    def _object_name(self, obj_id: int, obj_path: Path) -> str:
        if obj_id >= len(self.suite.object_classes):
            raise PartbenchError(
                f"{obj_path}: object label {obj_id} is out of range for suite {self.suite.name!r} "
                f"({len(self.suite.object_classes)} object classes, ignore = {self.suite.ignore_label})."
            )
        return self.suite.object_classes[obj_id]
