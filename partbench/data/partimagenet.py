"""Reader for PartImageNet as the OVPS code uses it: the zero-shot split (PartImageNet_Seg, 40 objects) and the OOD
split (PartImageNet_OOD, PartCATSeg).

```
PartImageNet/ (or PartImageNet_OOD/)
  images/{train,val}/<synset>_<n>.JPEG     # flat folders (`partbench data prepare` flattens OOD's per-synset ones)
  train.json, val.json                     # COCO; category_id = 0-based index into the 40 superclass parts
```
One sample per image (each image shows one ImageNet object). The object class comes from the file-name synset
(`n01440764_10026.JPEG` → `n01440764` → the first synonym in ImageNet's `LOC_synset_mapping.txt`: `tench`), read from
`LOC_synset_mapping.txt` when it sits in the dataset folder or the data root, else from the same mapping shipped in the
suite's class JSON. Part ground truth is rasterised from the COCO segmentations with pycocotools **in annotation
order, later ones overwriting earlier ones**; the class of an annotation is `"<object>'s <part>"`, where `<part>` is
its superclass-part name without the first word, lower-cased (`Car Side Mirror` → `side mirror`). Pixels covered by
no annotation are ignored (65535); the object mask is the union of the part masks.

Images whose object is not among the suite's objects are skipped and counted (`other_objects`), and on the train split
so are unseen objects' images (`unseen_in_train`): the same files the official preprocessing deletes, so an
unprocessed PartImageNet_Seg folder gives the same samples as a prepared one. An image the split's JSON lists that is
not on disk is left out and counted (`missing_files`, a key present only when some are); `inventory` names it, so
`run` and `score` refuse the split unless `--allow-incomplete-data`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from partbench.data.coco import CocoFile, decode_segmentation, load_coco
from partbench.data.completeness import Inventory
from partbench.data.readers import SampleIndex, require_paths
from partbench.data.types import ObjectAnnotation, Sample, SampleRef
from partbench.errors import PartbenchError
from partbench.suites import SUITES_DIR, Suite

SYNSET_FILE = "LOC_synset_mapping.txt"


def synset_of(file_name: str) -> str:
    """`n01440764_10026.JPEG` -> `n01440764` (the official `file_name.split('/')[-1].split('_')[0]`)."""
    return Path(file_name).name.split("_")[0]


def part_phrase(category_name: str) -> str:
    """`Car Side Mirror` -> `side mirror`: the superclass word dropped, lower-cased (partimagenet_mapper.py)."""
    return category_name.split(" ", 1)[1].lower() if " " in category_name else category_name.lower()


def read_synset_mapping(path: Path) -> dict[str, str]:
    """`n01440764 tench, Tinca tinca` lines -> {synset: first synonym}."""
    out = {}
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        synset, _, names = line.strip().partition(" ")
        if not synset.startswith("n") or not names:
            raise PartbenchError(f"{path}: line {i} is not '<synset> <name>[, <synonym>...]': {line!r}.")
        out[synset] = names.split(",")[0].strip()
    return out


class PartImageNetReader:
    def __init__(self, suite: Suite, data_root: Path, class_spec: str, train_objects: str = "seen"):
        from partbench.store.atomic import read_json

        self.suite = suite
        self.data_root = Path(data_root)
        self.root = suite.dataset_path(data_root)
        spec = read_json(SUITES_DIR / "classes" / class_spec)
        self.part_categories = {int(c["id"]): str(c["name"]) for c in spec["part_categories_coco"]}
        self.shipped_synsets = {syn: name for name, syn in spec["object_synsets"].items()}
        if train_objects not in ("seen", "all"):
            raise PartbenchError(f"Suite {suite.name!r}: reader_args.train_objects must be 'seen' or 'all'.")
        self.train_objects = train_objects
        self.class_ids = {c: i for i, c in enumerate(suite.classes)}
        self._coco: dict[str, CocoFile] = {}
        self._synsets: dict[str, str] | None = None

    # -- presence ----------------------------------------------------------------------------------------------------
    def required_paths(self, split: str) -> list[Path]:
        return [self.root / "images" / split, self.root / f"{split}.json"]

    def check(self, split: str) -> None:
        require_paths(self.suite, self.root, split, self.required_paths(split))

    def coco(self, split: str) -> CocoFile:
        if split not in self._coco:
            self._coco[split] = load_coco(self.root / f"{split}.json")
        return self._coco[split]

    @property
    def synsets(self) -> dict[str, str]:
        """synset -> ImageNet class name: `LOC_synset_mapping.txt` if present (the official source), else shipped."""
        if self._synsets is None:
            for candidate in (self.root / SYNSET_FILE, self.data_root / SYNSET_FILE):
                if candidate.is_file():
                    self._synsets = read_synset_mapping(candidate)
                    break
            else:
                self._synsets = dict(self.shipped_synsets)
        return self._synsets

    # -- listing -----------------------------------------------------------------------------------------------------
    def image_path(self, split: str, file_name: str) -> Path:
        flat = self.root / "images" / split / Path(file_name).name
        if flat.is_file():
            return flat
        nested = self.root / "images" / split / file_name
        return nested if nested.is_file() else flat

    def index(self, split: str) -> SampleIndex:
        """One sample per image of the suite's objects, ordered by file name."""
        self.check(split)
        coco = self.coco(split)
        refs: list[SampleRef] = []
        skipped = {"other_objects": 0, "unseen_in_train": 0, "empty_ground_truth": 0}
        objects = set(self.suite.object_classes)
        for image_id, img in sorted(coco.images.items(), key=lambda kv: kv[1]["file_name"]):
            name = self.synsets.get(synset_of(img["file_name"]))
            if name not in objects:
                skipped["other_objects"] += 1
                continue
            if split == "train" and self.train_objects == "seen" and name in self.suite.unseen_objects:
                skipped["unseen_in_train"] += 1
                continue
            stem = Path(img["file_name"]).stem
            image_path = self.image_path(split, img["file_name"])
            if not image_path.is_file():  # named by `inventory`
                skipped["missing_files"] = skipped.get("missing_files", 0) + 1
                continue
            refs.append(SampleRef(id=stem, image_id=stem, image_path=image_path,
                                  object_class=name, extra={"split": split, "coco_image_id": image_id}))
        return SampleIndex(refs=refs, skipped=skipped)

    def annotation_files(self, split: str) -> list[Path]:
        return [self.root / f"{split}.json"]

    def input_files(self, ref: SampleRef) -> list[Path]:
        """The image and the COCO JSON its part polygons come from."""
        return [ref.image_path, self.root / f"{ref.extra['split']}.json"]

    def inventory(self, split: str) -> Inventory:
        """Every image the split's JSON lists is on disk, and every image on disk is listed."""
        self.check(split)
        json_path = self.root / f"{split}.json"
        listed = {Path(img["file_name"]).name: img["file_name"] for img in self.coco(split).images.values()}
        folder = self.root / "images" / split
        on_disk = {p.name for p in folder.rglob("*") if p.is_file() and not p.name.startswith("._")}
        problems = [f"{self.image_path(split, file_name)}: missing (listed in {json_path})."
                    for name, file_name in sorted(listed.items()) if name not in on_disk]
        problems += [f"{folder / name}: no image entry in {json_path} (an orphan image)."
                     for name in sorted(on_disk - listed.keys())]
        return Inventory(counts={"images": len(listed.keys() & on_disk)}, problems=problems)

    # -- loading -----------------------------------------------------------------------------------------------------
    def load(self, ref: SampleRef) -> Sample:
        coco = self.coco(ref.extra["split"])
        img = coco.images[ref.extra["coco_image_id"]]
        h, w = img["height"], img["width"]
        gt = np.full((h, w), self.suite.ignore_label, dtype=np.int64)
        obj_mask = np.zeros((h, w), dtype=bool)
        for k, ann in enumerate(coco.annotations[ref.extra["coco_image_id"]]):
            where = f"{coco.path}: annotation {ann.get('id', k)} of {img['file_name']}"
            class_id = self._class_id(ref.object_class, int(ann["category_id"]), where)
            mask = decode_segmentation(ann["segmentation"], h, w, where)
            gt[mask] = class_id  # later annotations overwrite earlier ones, as in the official mapper
            obj_mask |= mask
        return Sample(ref=ref, objects=[ObjectAnnotation(ref.object_class, obj_mask)], part_label_map=gt,
                      ignore_label=self.suite.ignore_label)

    def _class_id(self, object_class: str, category_id: int, where: str) -> int:
        if category_id not in self.part_categories:
            raise PartbenchError(f"{where}: category_id {category_id} is not one of the "
                                 f"{len(self.part_categories)} PartImageNet part categories (0-based).")
        name = f"{object_class}'s {part_phrase(self.part_categories[category_id])}"
        if name not in self.class_ids:
            raise PartbenchError(f"{where}: part {self.part_categories[category_id]!r} gives class {name!r}, which "
                                 f"suite {self.suite.name!r} does not have (wrong superclass for this object?).")
        return self.class_ids[name]
