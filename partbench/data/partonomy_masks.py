"""Partonomy's part annotations as boolean masks at the image's size, read as its reference loader reads them
(`src/models/PLUM/utils/explanatory_seg_dataset.py`, `utils/utils.py`), and the image size it reads them against.

- An annotation is a dict with a `segmentation` key, or the mask dict itself; it must carry `size` = [h, w].
- `counts`: COCO RLE, compressed (a string) or uncompressed (a list), decoded with pycocotools at `size`
  (`partbench.data.coco.decode_segmentation`, which refuses counts that do not cover `size`).
- `polygon`: a flat [x1, y1, x2, y2, ...] list in the image's pixel coordinates, truncated to integers as upstream
  does, rasterised at the *image* size whatever `size` says (upstream rasterises at the image size and its resize is
  then a no-op). partbench rasterises with pycocotools, upstream with `cv2.fillPoly`: pycocotools covers pixel
  [x, x+1) when x lies inside the polygon, fillPoly also fills the pixels on the right/bottom boundary (an integer
  w x h rectangle is w·h pixels here, (w+1)·(h+1) there). Polygons of fewer than three points are empty here.
- When `size` differs from the image, the decoded RLE is resized as upstream does with `cv2.resize` on the 0/1
  uint8 mask: bilinear (INTER_LINEAR, half-pixel centres) when either side grows, area averaging (INTER_AREA) when
  neither grows, and uint8 rounding, so a pixel is in the mask when its interpolated value is at least 0.5. This is
  upstream's quirk (an interpolating, not nearest-neighbour, resize of a binary mask), kept so that the ground truth
  is the same; exact ties at 0.5 may round differently from OpenCV's fixed-point arithmetic.
- Images are read with their EXIF orientation applied (`ImageOps.exif_transpose`), so their size is the size after
  rotation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from partbench.errors import PartbenchError

# EXIF orientations that swap width and height (transpose, rotate 90/270, transverse).
_SWAPPING = {5, 6, 7, 8}


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of the image after its EXIF orientation is applied, from the header only."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112)
    except (OSError, ValueError) as e:
        raise PartbenchError(f"{path}: cannot read image ({e}).") from None
    return (w, h) if orientation in _SWAPPING else (h, w)


def read_image(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB with the EXIF orientation applied (upstream's `open_image`)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, ValueError) as e:
        raise PartbenchError(f"{path}: cannot read image ({e}).") from None


def annotation_mask(ann: Any, image_hw: tuple[int, int], where: str) -> np.ndarray:
    """One annotation as an HxW bool mask at the image size (see the module docstring)."""
    if isinstance(ann, dict) and "segmentation" in ann:
        ann = ann["segmentation"]
    if not isinstance(ann, dict):
        raise PartbenchError(f"{where}: an annotation must be a mapping with 'size' and 'counts' or 'polygon', "
                             f"got {type(ann).__name__}.")
    size = ann.get("size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise PartbenchError(f"{where}: 'size' must be [height, width] (positive integers), got {size!r}; "
                             f"both RLE and polygon annotations need it.")
    h, w = int(size[0]), int(size[1])
    if "counts" in ann:
        from partbench.data.coco import decode_segmentation

        mask = decode_segmentation({"size": [h, w], "counts": ann["counts"]}, h, w, where)
        return mask if (h, w) == tuple(image_hw) else resize_like_upstream(mask, image_hw)
    if "polygon" in ann:
        return polygon_mask(ann["polygon"], image_hw, where)
    raise PartbenchError(f"{where}: an annotation needs 'counts' (RLE) or 'polygon'; it has {sorted(ann)}.")


def polygon_mask(polygon: Any, image_hw: tuple[int, int], where: str) -> np.ndarray:
    """A flat [x1, y1, ...] polygon in image pixels, coordinates truncated to integers, rasterised by pycocotools."""
    from pycocotools import mask as mask_utils

    if not isinstance(polygon, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in polygon):
        raise PartbenchError(f"{where}: 'polygon' must be a flat list [x1, y1, x2, y2, ...] of numbers.")
    if len(polygon) % 2:
        raise PartbenchError(f"{where}: 'polygon' has an odd number of coordinates ({len(polygon)}).")
    h, w = image_hw
    if len(polygon) < 6:
        return np.zeros((h, w), dtype=bool)
    coords = [float(int(v)) for v in polygon]  # numpy astype(int32) truncates toward zero, as upstream
    return mask_utils.decode(mask_utils.frPyObjects([coords], h, w))[:, :, 0].astype(bool)


def resize_like_upstream(mask: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """`cv2.resize(mask_uint8, (w, h), LINEAR if a side grows else AREA)` of a 0/1 mask, rounded: see the module."""
    src_h, src_w = mask.shape
    h, w = image_hw
    values = mask.astype(np.float64)
    if src_h < h or src_w < w:
        values = _linear_weights(src_h, h) @ values @ _linear_weights(src_w, w).T
    else:
        values = _area_weights(src_h, h) @ values @ _area_weights(src_w, w).T
    return values >= 0.5 - 1e-9  # float sums of exact halves may land a hair below 0.5


def _linear_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear weights as OpenCV's INTER_LINEAR computes them: source x = (i + 0.5)·scale − 0.5, the
    left neighbour clamped at the borders."""
    scale = n_in / n_out
    out = np.zeros((n_out, n_in))
    for i in range(n_out):
        x = (i + 0.5) * scale - 0.5
        x0 = int(np.floor(x))
        frac = x - x0
        if x0 < 0:
            x0, frac = 0, 0.0
        if x0 >= n_in - 1:
            x0, frac = n_in - 1, 0.0
        out[i, x0] += 1 - frac
        if frac:
            out[i, x0 + 1] += frac
    return out


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) area-averaging weights (INTER_AREA when shrinking): output pixel i covers source interval
    [i·scale, (i+1)·scale), each source pixel weighted by its overlap."""
    scale = n_in / n_out
    out = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
            overlap = min(hi, j + 1) - max(lo, j)
            if overlap > 0:
                out[i, j] = overlap / scale
    return out


def union_of(annotations: Any, image_hw: tuple[int, int], where: str) -> np.ndarray:
    """The OR of every annotation of one part label (upstream stacks them and takes `.any(axis=0)`)."""
    if not isinstance(annotations, list) or not annotations:
        raise PartbenchError(f"{where}: expected a non-empty list of annotations.")
    mask = np.zeros(image_hw, dtype=bool)
    for k, ann in enumerate(annotations):
        mask |= annotation_mask(ann, image_hw, f"{where}[{k}]")
    return mask
