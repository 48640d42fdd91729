"""Reader for ADE20K-Part-234 in the OV-PARTS layout (see docs/suites.md).

```
ADE20KPart234/
  images/{training,validation}/ADE_*.jpg
  annotations_detectron2_part/{training,validation}/ADE_*.png   # uint16, value k = classes[k], 65535 = ignore
  ade20k_instance_{train,val}.json                               # COCO object instances, category_id = 0-based object
```
There is no object PNG: each sample is one object *instance* from the instance JSON (mask decoded with pycocotools),
and part ground truth outside that instance is ignored. Sample ids are `<image stem>__<annotation id>`.

Splits (partbench names → the official dataset):
- `val`: `ade_obj_part_sem_seg_val_obj_condition`, the official test set = every validation instance plus every
  training-image instance of an *unseen* object (OV-PARTS `load_train_val_json`, "test on both exclusive train and
  val set").
- `train`: training-image instances of *seen* objects only (the rest are test samples, so fitting on them would leak).

Instances whose restricted part ground truth is empty are skipped and counted when loaded (`Sample.has_labels`), where
the official loader substitutes a random other sample (see docs/suites.md). Overlapping instances of one image count
their shared pixels once per sample, as in the official protocol. An image whose image file or part map is missing is
left out with its instances and counted per image (`missing_files`, a key present only when some are); `inventory`
names the file, so `run` and `score` refuse the split unless `--allow-incomplete-data`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from partbench.data.coco import CocoFile, decode_segmentation, load_coco
from partbench.data.completeness import Inventory, file_names
from partbench.data.images import read_label_png
from partbench.data.readers import SampleIndex, require_paths
from partbench.data.types import ObjectAnnotation, Sample, SampleRef
from partbench.errors import PartbenchError
from partbench.suites import Suite

IMAGE_DIR = "images"
PART_DIR = "annotations_detectron2_part"
# partbench split -> [(image folder, instance JSON, which objects)]
SPLIT_SOURCES = {
    "val": [("validation", "ade20k_instance_val.json", "all"), ("training", "ade20k_instance_train.json", "unseen")],
    "train": [("training", "ade20k_instance_train.json", "seen")],
}


def sample_id(image_stem: str, annotation_id: int) -> str:
    return f"{image_stem}__{annotation_id}"


class ADE20KPartReader:
    def __init__(self, suite: Suite, data_root: Path):
        self.suite = suite
        self.root = suite.dataset_path(data_root)
        self._coco: dict[str, CocoFile] = {}
        self._last: tuple[Path, np.ndarray] | None = None

    # -- presence ----------------------------------------------------------------------------------------------------
    def required_paths(self, split: str) -> list[Path]:
        out = []
        for folder, json_name, _ in SPLIT_SOURCES[split]:
            out += [self.root / IMAGE_DIR / folder, self.root / PART_DIR / folder, self.root / json_name]
        return list(dict.fromkeys(out))

    def check(self, split: str) -> None:
        if split not in SPLIT_SOURCES:
            raise PartbenchError(f"Suite {self.suite.name!r}: unknown split {split!r} "
                                 f"(known: {', '.join(SPLIT_SOURCES)}).")
        require_paths(self.suite, self.root, split, self.required_paths(split))

    def coco(self, json_name: str) -> CocoFile:
        if json_name not in self._coco:
            self._coco[json_name] = load_coco(self.root / json_name)
        return self._coco[json_name]

    # -- listing -----------------------------------------------------------------------------------------------------
    def index(self, split: str) -> SampleIndex:
        """One sample per object instance, in (source, image file name, annotation order) order."""
        self.check(split)
        refs: list[SampleRef] = []
        skipped = {"no_part_classes": 0, "empty_ground_truth": 0}
        missing = 0
        for folder, json_name, which in SPLIT_SOURCES[split]:
            coco = self.coco(json_name)
            images, parts = file_names(self.root / IMAGE_DIR / folder), file_names(self.root / PART_DIR / folder)
            for image_id, img in sorted(coco.images.items(), key=lambda kv: kv[1]["file_name"]):
                stem = Path(img["file_name"]).stem
                image_path = self.root / IMAGE_DIR / folder / Path(img["file_name"]).name
                image_refs = len(refs)
                for position, ann in enumerate(coco.annotations[image_id]):
                    name = self._object_name(int(ann["category_id"]), coco.path)
                    unseen = name in self.suite.unseen_objects
                    if (which == "unseen" and not unseen) or (which == "seen" and unseen):
                        continue
                    if not self.suite.part_ids_of(name):
                        skipped["no_part_classes"] += 1
                        continue
                    refs.append(SampleRef(
                        id=sample_id(stem, int(ann.get("id", position))), image_id=stem, image_path=image_path,
                        object_class=name,
                        extra={"folder": folder, "json": json_name, "coco_image_id": image_id,
                               "position": position, "annotation_id": ann.get("id", position)},
                    ))
                if len(refs) > image_refs and (image_path.name not in images or f"{stem}.png" not in parts):
                    # Its image or part map is missing (named by `inventory`): left out, counted per image.
                    del refs[image_refs:]
                    missing += 1
        if missing:
            skipped["missing_files"] = missing
        ids = [r.id for r in refs]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise PartbenchError(f"{self.root}: two instances share the sample id {dup!r} (annotation ids must be "
                                 "unique per image across the instance JSONs).")
        return SampleIndex(refs=refs, skipped=skipped)

    def annotation_files(self, split: str) -> list[Path]:
        """The instance JSONs and the part maps of the images the index keeps (not of one left out for a missing
        file)."""
        files = []
        for folder, json_name, _ in SPLIT_SOURCES[split]:
            files.append(self.root / json_name)
            coco = self.coco(json_name)
            images, parts = file_names(self.root / IMAGE_DIR / folder), file_names(self.root / PART_DIR / folder)
            files += [self.part_path(folder, Path(img["file_name"]).stem) for img in coco.images.values()
                      if Path(img["file_name"]).name in images and f"{Path(img['file_name']).stem}.png" in parts]
        return list(dict.fromkeys(files))

    def input_files(self, ref: SampleRef) -> list[Path]:
        """The image, its part map, and the instance JSON the object's mask comes from."""
        folder = ref.extra["folder"]
        return [ref.image_path, self.part_path(folder, ref.image_id), self.root / ref.extra["json"]]

    def inventory(self, split: str) -> Inventory:
        """Every image the instance JSONs list has its image file and part map, and every part map its JSON entry."""
        self.check(split)
        problems: list[str] = []
        images = 0
        for folder, json_name, _ in SPLIT_SOURCES[split]:
            listed = {Path(img["file_name"]).stem: Path(img["file_name"]).name
                      for img in self.coco(json_name).images.values()}
            image_dir, part_dir = self.root / IMAGE_DIR / folder, self.root / PART_DIR / folder
            on_disk = file_names(image_dir)  # by the exact name the JSON gives, which a sample reads
            parts = {p.stem: p for p in part_dir.glob("*.png") if not p.name.startswith("._")}
            json_path = self.root / json_name
            problems += [f"{image_dir / name}: missing (listed in {json_path})."
                         for stem, name in sorted(listed.items()) if name not in on_disk]
            problems += [f"{part_dir / (stem + '.png')}: missing ({image_dir / name} is listed in {json_path})."
                         for stem, name in sorted(listed.items()) if name in on_disk and stem not in parts]
            problems += [f"{path}: no image entry in {json_path} (an orphan part map)."
                         for stem, path in sorted(parts.items()) if stem not in listed]
            images += sum(1 for stem, name in listed.items() if name in on_disk and stem in parts)
        return Inventory(counts={"images": images}, problems=problems)

    def part_path(self, folder: str, stem: str) -> Path:
        return self.root / PART_DIR / folder / f"{stem}.png"

    # -- loading -----------------------------------------------------------------------------------------------------
    def load(self, ref: SampleRef) -> Sample:
        coco = self.coco(ref.extra["json"])
        img = coco.images[ref.extra["coco_image_id"]]
        ann = coco.annotations[ref.extra["coco_image_id"]][ref.extra["position"]]
        part_path = self.part_path(ref.extra["folder"], ref.image_id)
        part = self._read_part_cached(part_path)
        if part.shape != (img["height"], img["width"]):
            raise PartbenchError(
                f"{part_path}: part map is {part.shape[1]}x{part.shape[0]} but {coco.path} gives the image as "
                f"{img['width']}x{img['height']}.")
        mask = decode_segmentation(ann["segmentation"], img["height"], img["width"],
                                   f"{coco.path}: annotation {ref.extra['annotation_id']}")
        gt = np.where(mask, part, self.suite.ignore_label)
        obj = ObjectAnnotation(ref.object_class, mask, instance_id=ref.extra["annotation_id"])
        return Sample(ref=ref, objects=[obj], part_label_map=gt, ignore_label=self.suite.ignore_label)

    def _read_part_cached(self, path: Path) -> np.ndarray:
        # Instances of one image are consecutive in the index: decode its part PNG once.
        if self._last is None or self._last[0] != path:
            # int64, so that writing the 65535 ignore value can never overflow an 8-bit PNG's array.
            part = read_label_png(path).astype(np.int64)
            bad = (part != self.suite.ignore_label) & (part >= self.suite.num_classes)
            if bad.any():
                raise PartbenchError(
                    f"{path}: part label {int(part[bad][0])} is out of range for suite {self.suite.name!r} "
                    f"({self.suite.num_classes} classes, ignore = {self.suite.ignore_label}).")
            self._last = (path, part)
        return self._last[1]

    def _object_name(self, category_id: int, where: Path) -> str:
        if not 0 <= category_id < len(self.suite.object_classes):
            raise PartbenchError(f"{where}: category_id {category_id} is out of range for suite {self.suite.name!r} "
                                 f"({len(self.suite.object_classes)} object classes, 0-based).")
        return self.suite.object_classes[category_id]
