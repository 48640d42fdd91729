"""Pictures of one sample: the image, and class-id maps (ground truth, each run's prediction) drawn over it in the
suite's part colours. Pixels a map leaves unlabelled (the ignore value) show the image, dimmed to grey, so the
coloured area is exactly what was labelled or predicted.

Tiles are cropped to the sample's labelled area (plus a margin), which in the oracle-object setting is its object,
so small objects stay legible in a gallery; every tile of one sample uses the same crop.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.report.palette import Palette

ALPHA = 0.65


@dataclass
class SampleView:
    """What the tiles of one sample are drawn from."""

    sample_id: str
    image: np.ndarray  # HxWx3 uint8
    truth: np.ndarray  # HxW class ids
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 of the crop
    ignore_label: int


class SampleSource:
    """Samples of one suite split, read on demand by id (the split's index is listed once)."""

    def __init__(self, suite: Any, data_root: Path, split: str):
        self.suite = suite
        self.reader = suite.make_reader(Path(data_root))
        self.refs = {r.id: r for r in self.reader.index(split).refs}

    def view(self, sample_id: str, margin: float = 0.12) -> SampleView | None:
        ref = self.refs.get(sample_id)
        if ref is None:
            return None
        sample = self.reader.load(ref)
        truth = np.asarray(sample.part_label_map)
        return SampleView(sample_id, np.asarray(sample.image), truth, crop_box(truth != sample.ignore_label, margin),
                          sample.ignore_label)


def crop_box(mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """The bounding box of `mask` grown by `margin` of its size on each side (the whole map when `mask` is empty)."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return 0, h, 0, w
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    dy, dx = int((y1 - y0) * margin) + 2, int((x1 - x0) * margin) + 2
    return max(0, y0 - dy), min(h, y1 + dy), max(0, x0 - dx), min(w, x1 + dx)


def read_prediction(path: Path, shape: tuple[int, int], num_classes: int, ignore_label: int) -> np.ndarray | None:
    """A run's class-id map for a sample, or None when the run kept none (an imported score, a deleted file); ids
    outside the suite's classes show as unlabelled."""
    from partbench.data.images import read_label_png

    if not Path(path).is_file():
        return None
    labels = read_label_png(path).astype(np.int64)
    if labels.shape != shape:
        raise PartbenchError(f"{path}: prediction is {labels.shape[1]}x{labels.shape[0]} (WxH); the sample is "
                             f"{shape[1]}x{shape[0]}.")
    return np.where((labels >= 0) & (labels < num_classes), labels, ignore_label)


def draw(view: SampleView, labels: np.ndarray | None, palette: Palette) -> np.ndarray:
    """The cropped image with `labels` over it (None: the image itself)."""
    y0, y1, x0, x1 = view.box
    image = view.image[y0:y1, x0:x1].astype(np.float32)
    if labels is None:
        return image.astype(np.uint8)
    labels = labels[y0:y1, x0:x1]
    luminance = image.mean(axis=2, keepdims=True)
    out = np.repeat(luminance * 0.45 + 120, 3, axis=2)  # dimmed grey: the colours must stand out
    labelled = labels != view.ignore_label
    colours = palette.lut(view.ignore_label)[np.where(labelled, labels, view.ignore_label)].astype(np.float32)
    # Colour over the image's shading, not its hue: a green object's "red body" must still read as the legend's red.
    blend = (1 - ALPHA) * luminance + ALPHA * colours
    out = np.where(labelled[..., None], blend, out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def present_classes(maps: list[np.ndarray | None], num_classes: int) -> list[int]:
    """Class ids shown in any of the maps, in id order (the legend of one sample)."""
    found: set[int] = set()
    for m in maps:
        if m is not None:
            found.update(int(v) for v in np.unique(m) if 0 <= v < num_classes)
    return sorted(found)


def png_bytes(rgb: np.ndarray, side: int | None = None) -> bytes:
    """A PNG of `rgb` whose longer side is `side` (shrunk smoothly, enlarged by whole pixels so that label edges stay
    sharp); byte-identical for the same input."""
    from PIL import Image

    image = Image.fromarray(rgb)
    if side and max(image.size) > side:
        scale = side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    elif side and 2 * max(image.size) <= side:  # a small object: enlarge by an integer factor
        factor = side // max(image.size)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()
