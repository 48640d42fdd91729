"""Reader for the original Pascal-Part annotations with their fine-grained labels (pascal-part-and-t2i-eval.md §A).

```
<data-root>/pascal-part/Annotations_Part/<voc id>.mat          # from trainval.tar.gz (Chen et al., CVPR 2014)
<data-root>/VOCdevkit/VOC2010/JPEGImages/<voc id>.jpg
<data-root>/VOCdevkit/VOC2010/ImageSets/Main/{train,val}.txt   # the splits
```
Each .mat holds `anno` with `imname` and `objects` (fields `class`, `class_ind`, `mask`, `parts`; each part has
`part_name` and `mask`). Samples are (image, object **instance**) pairs in the oracle-object setting, id
`<voc id>__<class>_<k>` with k the object's 1-based position in the file. The part ground truth of a sample is its
instance's parts drawn in file order (later parts over earlier ones) inside its silhouette, with the fine-grained class
of each `part_name` (`llarm` → `person's left lower arm`, `wheel_3` → `car's wheel`); silhouette pixels without a
part, and everything outside the silhouette, are ignored (255).

Skipped and counted: objects of classes without parts (boat, chair, table, sofa: `no_part_classes`), split images
without a .mat file (`no_part_annotation`), and, when loaded, instances with no part pixels (`empty_ground_truth`).
A split image whose .mat is there but whose JPEG is not is left out with its instances and counted per image
(`missing_files`, a key present only when some are); `inventory` names the JPEG, so `run` and `score` refuse the split
unless `--allow-incomplete-data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from partbench.data.completeness import Inventory, file_names
from partbench.data.pascal_part_classes import class_name
from partbench.data.readers import SampleIndex, require_paths
from partbench.data.types import ObjectAnnotation, Sample, SampleRef
from partbench.errors import DataNotFoundError, PartbenchError
from partbench.suites import Suite


@dataclass
class PascalPart:
    name: str
    mask: np.ndarray  # HxW bool


@dataclass
class PascalObject:
    class_name: str
    class_ind: int
    mask: np.ndarray  # HxW bool silhouette
    parts: list[PascalPart]


def _as_list(value: Any) -> list:
    """scipy's `simplify_cells` gives a dict for a 1x1 struct, a list (or object array) for more, and an empty
    array for none: one list in every case."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, np.ndarray):
        return [] if value.size == 0 else list(value.reshape(-1))
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _mask(value: Any, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise PartbenchError(f"{where}: mask has shape {arr.shape}; expected a 2-D HxW array.")
    return arr.astype(bool)


def _text(value: Any, where: str) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if not isinstance(value, str) or not value:
        raise PartbenchError(f"{where}: expected a non-empty string, got {value!r}.")
    return value


def read_annotation(path: Path) -> tuple[str, list[PascalObject]]:
    """(image name, objects in file order) from one Pascal-Part .mat file."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: Pascal-Part annotation not found.")
    from scipy.io.matlab import MatReadError

    try:
        data = scipy.io.loadmat(str(path), simplify_cells=True, variable_names=["anno"])
    # What scipy raises for a file that is not a readable .mat: MatReadError (empty), OSError (truncated data),
    # IndexError (a truncated header), ValueError and TypeError (corrupt headers and data elements),
    # NotImplementedError (v7.3/HDF5). Only around the read: an error in our own handling of what it returns must
    # surface as itself.
    except (MatReadError, OSError, IndexError, ValueError, TypeError, NotImplementedError) as e:
        raise PartbenchError(f"{path}: cannot read .mat file ({e}).") from None
    anno = data.get("anno")
    if not isinstance(anno, dict) or "objects" not in anno:
        raise PartbenchError(f"{path}: expected a struct 'anno' with fields imname and objects.")
    imname = _text(anno.get("imname"), f"{path}: anno.imname")
    objects = []
    for k, o in enumerate(_as_list(anno["objects"]), 1):
        where = f"{path}: object {k}"
        if not isinstance(o, dict) or not {"class", "mask", "parts"} <= set(o):
            raise PartbenchError(f"{where}: expected fields class, class_ind, mask, parts.")
        parts = []
        for j, p in enumerate(_as_list(o["parts"]), 1):
            if not isinstance(p, dict) or not {"part_name", "mask"} <= set(p):
                raise PartbenchError(f"{where}, part {j}: expected fields part_name, mask.")
            parts.append(PascalPart(_text(p["part_name"], f"{where}, part {j}: part_name"),
                                    _mask(p["mask"], f"{where}, part {j}")))
        objects.append(PascalObject(_text(o["class"], f"{where}: class"), int(np.asarray(o.get("class_ind", 0))),
                                    _mask(o["mask"], where), parts))
    return imname, objects


def check_sizes(path: Path, objects: list[PascalObject], size: tuple[int, int] | None) -> None:
    """Every silhouette and part mask must have the image's (height, width)."""
    expected = size or (objects[0].mask.shape if objects else None)
    for k, o in enumerate(objects, 1):
        for what, m in [("mask", o.mask)] + [(f"part {p.name!r} mask", p.mask) for p in o.parts]:
            if m.shape != expected:
                source = "its image" if size else "object 1's mask"
                raise PartbenchError(f"{path}: object {k} ({o.class_name}) {what} is {m.shape[1]}x{m.shape[0]} but "
                                     f"{source} is {expected[1]}x{expected[0]} (WxH).")


class PascalPartReader:
    def __init__(self, suite: Suite, data_root: Path, voc_dir: str = "VOCdevkit/VOC2010",
                 annotations: str = "Annotations_Part"):
        self.suite = suite
        self.root = suite.dataset_path(data_root)
        self.annotation_dir = self.root / annotations
        self.voc = Path(data_root) / voc_dir
        self.class_ids = {c: i for i, c in enumerate(suite.classes)}
        self._last: tuple[Path, list[PascalObject]] | None = None

    # -- presence ----------------------------------------------------------------------------------------------------
    def split_file(self, split: str) -> Path:
        return self.voc / "ImageSets" / "Main" / f"{split}.txt"

    def image_path(self, image_id: str) -> Path:
        return self.voc / "JPEGImages" / f"{image_id}.jpg"

    def mat_path(self, image_id: str) -> Path:
        return self.annotation_dir / f"{image_id}.mat"

    def required_paths(self, split: str) -> list[Path]:
        return [self.annotation_dir, self.voc / "JPEGImages", self.split_file(split)]

    def check(self, split: str) -> None:
        require_paths(self.suite, None, split, self.required_paths(split))

    def image_ids(self, split: str) -> list[str]:
        self.check(split)
        path = self.split_file(split)
        ids = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return sorted(dict.fromkeys(ids))

    # -- listing -----------------------------------------------------------------------------------------------------
    skipped_reasons = ("no_part_annotation", "no_part_classes", "empty_ground_truth")

    def index(self, split: str) -> SampleIndex:
        """One sample per object instance with a part-bearing class, in (image id, object position) order."""
        from partbench.data.index_cache import index_from_units

        return index_from_units(self, split)

    def index_units(self, split: str) -> tuple[list[Path], list[tuple[str, list[Path]]]]:
        """The index depends on the split file, and each image's samples on its .mat (and its image's presence):
        `partbench.data.index_cache` re-reads only the .mat files that changed."""
        return [self.split_file(split)], [(i, [self.mat_path(i), self.image_path(i)]) for i in self.image_ids(split)]

    def index_unit(self, split: str, image_id: str) -> tuple[list[SampleRef], dict[str, int]]:
        mat = self.mat_path(image_id)
        if not mat.is_file():
            return [], {"no_part_annotation": 1}
        image_path = self.image_path(image_id)
        if not image_path.is_file():
            return [], {"missing_files": 1}  # named by `inventory`; indexed again when the JPEG is restored
        refs, skipped = [], {"no_part_classes": 0}
        _, objects = self._read_cached(mat)
        for k, o in enumerate(objects, 1):
            if not self.suite.part_ids_of(o.class_name):
                if o.class_name not in self.suite.object_classes:
                    raise PartbenchError(f"{mat}: object {k} has class {o.class_name!r}, which is not a "
                                         f"Pascal-Part class ({', '.join(self.suite.object_classes)}).")
                skipped["no_part_classes"] += 1
                continue
            refs.append(SampleRef(id=f"{image_id}__{o.class_name}_{k}", image_id=image_id, image_path=image_path,
                                  object_class=o.class_name, extra={"split": split, "object_index": k}))
        return refs, skipped

    def annotation_files(self, split: str) -> list[Path]:
        """The .mat files of the images the index keeps (not of one left out for a missing JPEG)."""
        mats, jpegs = file_names(self.annotation_dir), file_names(self.voc / "JPEGImages")  # not two stats per image
        return [self.mat_path(i) for i in self.image_ids(split) if f"{i}.mat" in mats and f"{i}.jpg" in jpegs]

    def input_files(self, ref: SampleRef) -> list[Path]:
        return [ref.image_path, self.mat_path(ref.image_id)]

    def inventory(self, split: str) -> Inventory:
        """Every image the VOC split file lists has its JPEG and its Pascal-Part .mat (the release annotates every
        VOC2010 trainval image)."""
        ids = self.image_ids(split)
        split_file = self.split_file(split)
        problems = []
        for image_id in ids:
            for path in (self.image_path(image_id), self.mat_path(image_id)):
                if not path.is_file():
                    problems.append(f"{path}: missing ({image_id} is listed in {split_file}).")
        complete = sum(self.image_path(i).is_file() and self.mat_path(i).is_file() for i in ids)
        return Inventory(counts={"images": complete}, problems=problems)

    # -- loading -----------------------------------------------------------------------------------------------------
    def load(self, ref: SampleRef) -> Sample:
        from PIL import Image

        mat = self.mat_path(ref.image_id)
        _, objects = self._read_cached(mat)
        try:
            with Image.open(ref.image_path) as im:  # reads the header only
                size = (im.height, im.width)
        except OSError as e:
            raise PartbenchError(f"{ref.image_path}: cannot read image ({e}).") from None
        check_sizes(mat, objects, size)
        obj = objects[ref.extra["object_index"] - 1]
        gt = np.full(size, self.suite.ignore_label, dtype=np.int64)
        for p in obj.parts:
            name = class_name(obj.class_name, p.name)
            if name is None or name not in self.class_ids:
                raise PartbenchError(f"{mat}: object {ref.extra['object_index']} ({obj.class_name}) has part "
                                     f"{p.name!r}, which is not a Pascal-Part part name of {obj.class_name!r}.")
            # Clipped to the object's silhouette so a part never labels another object's pixels (pascal-part-py's
            # _mat2map does not clip; well-formed annotations are unaffected).
            gt[p.mask & obj.mask] = self.class_ids[name]
        annotation = ObjectAnnotation(obj.class_name, obj.mask, instance_id=ref.extra["object_index"])
        return Sample(ref=ref, objects=[annotation], part_label_map=gt, ignore_label=self.suite.ignore_label)

    def _read_cached(self, mat: Path) -> tuple[str, list[PascalObject]]:
        # The samples of one image are consecutive: parse its .mat once.
        if self._last is None or self._last[0] != mat:
            self._last = (mat, read_annotation(mat))
        return self._last[1]
