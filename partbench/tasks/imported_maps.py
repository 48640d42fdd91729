"""Predictions made elsewhere, for `partbench score`: a directory of PNG class-id maps, or detectron2's RLE JSON.

A PNG directory holds one file per sample (`<sample id>.png`, e.g. `2008_000002__dog.png`) or one per image
(`<image id>.png`); an image-level map is scored, for each of the image's samples, inside that sample's object, which
is exact for suites whose objects do not overlap (Pascal-Part-116, the demo). Values are class ids in the suite's
order (`partbench suites S --classes`); the suite's ignore value (255, or 65535 in 16-bit PNGs) means no prediction.

detectron2's `sem_seg_predictions.json` (OV-PARTS, LangHOPS) holds per-label COCO RLE masks keyed only
by image file name, with label C (the number of classes) marking off-object pixels. Several samples of one image are
therefore indistinguishable; they are merged into one image-level map, which is unambiguous when each pixel has at
most one on-object label across the groups and is refused, naming the image, when it has two.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from partbench.data.images import RecentDecodes, read_label_png, shared
from partbench.data.types import SampleRef
from partbench.errors import PartbenchError


class PngDirectory:
    def __init__(self, root: Path):
        if not root.is_dir():
            raise PartbenchError(f"{root}: predictions directory not found.")
        self.root = root
        # One directory listing instead of a stat per sample and lookup.
        self._stems = {p.stem for p in root.glob("*.png") if not p.name.startswith(".")}
        self._paths: dict[str, Path] = {}  # stem -> its file, joined once (a sample asks for it several times)
        # An image-level map (`<image id>.png`) is decoded once for all of the image's samples.
        self._decoded: RecentDecodes[Path, np.ndarray] = RecentDecodes(lambda path: shared(read_label_png(path)))

    def path_for(self, ref: SampleRef) -> Path | None:
        for stem in (ref.id, ref.image_id):
            if stem in self._stems:
                path = self._paths.get(stem)
                if path is None:
                    path = self._paths[stem] = self.root / f"{stem}.png"
                return path
        return None

    def missing(self, refs: list[SampleRef]) -> list[SampleRef]:
        return [r for r in refs if self.path_for(r) is None]

    def unmatched(self, refs: list[SampleRef]) -> list[str]:
        """Prediction files that name no sample or image of these refs (they are not scored)."""
        known = {r.id for r in refs} | {r.image_id for r in refs}
        return sorted(f"{stem}.png" for stem in self._stems - known)

    def hint(self) -> str:
        """What else the folder holds, when that explains missing predictions."""
        others: dict[str, int] = {}
        for p in self.root.iterdir():
            if p.is_file() and not p.name.startswith(".") and p.suffix != ".png":
                others[p.suffix or "(no extension)"] = others.get(p.suffix or "(no extension)", 0) + 1
        if not others:
            return ""
        found = ", ".join(f"{n} {ext}" for ext, n in sorted(others.items()))
        return (f" The folder holds {found} files: partbench reads single-channel PNG class-id maps named "
                f"<sample id>.png (lower-case extension).")

    def load(self, ref: SampleRef) -> np.ndarray:
        path = self.path_for(ref)
        if path is None:
            raise PartbenchError(
                f"{self.root}: no prediction for sample {ref.id} ({ref.id}.png or {ref.image_id}.png).")
        return self._decoded.get(path)

    def describe(self, ref: SampleRef) -> str:
        return str(self.path_for(ref) or self.root / f"{ref.id}.png")


class Detectron2Json:
    """Image-level class-id maps decoded from `sem_seg_predictions.json`, one image at a time."""

    def __init__(self, path: Path, num_classes: int, ignore_label: int):
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise PartbenchError(f"{path}: cannot read detectron2 predictions ({e}).") from None
        if not isinstance(entries, list):
            raise PartbenchError(f"{path}: expected a JSON list of {{file_name, category_id, segmentation}}.")
        self.path, self.num_classes, self.ignore_label = path, num_classes, ignore_label
        self.by_image: dict[str, list[dict]] = defaultdict(list)
        for i, e in enumerate(entries):
            try:
                self.by_image[Path(e["file_name"]).stem].append(e)
            except (KeyError, TypeError):
                raise PartbenchError(f"{path}: entry {i} lacks 'file_name'.") from None
        self._decoded: RecentDecodes[str, np.ndarray] = RecentDecodes(lambda image_id: shared(self._decode(image_id)))

    def missing(self, refs: list[SampleRef]) -> list[SampleRef]:
        return [r for r in refs if r.image_id not in self.by_image]

    def unmatched(self, refs: list[SampleRef]) -> list[str]:
        known = {r.image_id for r in refs}
        return sorted(f"{stem} (file_name)" for stem in set(self.by_image) - known)

    def hint(self) -> str:
        return ""

    def describe(self, ref: SampleRef) -> str:
        return f"{self.path} [{ref.image_id}]"

    def load(self, ref: SampleRef) -> np.ndarray:
        return self._decoded.get(ref.image_id)

    def _decode(self, image_id: str) -> np.ndarray:
        where = f"{self.path} [{image_id}]"
        entries = self.by_image.get(image_id)
        if not entries:
            raise PartbenchError(f"{where}: no prediction for this image.")
        label = None
        for k, e in enumerate(entries):
            try:
                segmentation = e["segmentation"]
                cat = int(e["category_id"])
            except (KeyError, TypeError, ValueError):
                raise PartbenchError(f"{where}: an entry lacks 'segmentation' or 'category_id'.") from None
            mask = decode_rle(segmentation, f"{where}, entry {k} of this image (category_id {cat})")
            if label is None:
                label = np.full(mask.shape, self.ignore_label, dtype=np.int64)
            if mask.shape != label.shape:
                raise PartbenchError(f"{where}: RLE masks of different sizes {mask.shape} and {label.shape}.")
            if cat == self.num_classes:  # off-object / ignored pixels of one sample
                continue
            if not 0 <= cat < self.num_classes:
                raise PartbenchError(f"{where}: category_id {cat} out of range (0..{self.num_classes}).")
            clash = mask & (label != self.ignore_label) & (label != cat)
            if clash.any():
                raise PartbenchError(
                    f"{where}: two samples of this image predict different parts at the same pixels; the detectron2 "
                    f"format cannot tell them apart. Export one PNG per sample instead.")
            label[mask] = cat
        return label


def decode_rle(segmentation: object, where: str) -> np.ndarray:
    """A COCO RLE mask (compressed string or uncompressed list `counts`) of the size its own `size` gives."""
    from partbench.data.coco import decode_segmentation

    if not isinstance(segmentation, dict) or "counts" not in segmentation or "size" not in segmentation:
        raise PartbenchError(f"{where}: 'segmentation' must be a COCO RLE with 'size' [h, w] and 'counts'.")
    size = segmentation["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size)):
        raise PartbenchError(f"{where}: RLE 'size' must be [height, width], got {size!r}.")
    return decode_segmentation(segmentation, size[0], size[1], where)


def open_predictions(path: Path, num_classes: int, ignore_label: int):
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        return Detectron2Json(path, num_classes, ignore_label)
    if path.is_file():
        raise PartbenchError(f"{path}: expected a directory of PNG maps or a detectron2 sem_seg_predictions.json.")
    return PngDirectory(path)
