"""COCO-style annotation files (ADE20K-Part-234 object instances, PartImageNet part polygons).

Segmentations are decoded with pycocotools, the library the official loaders use, so polygons rasterise to exactly
the pixels detectron2 would give: a polygon list is converted with `frPyObjects`, merged, then decoded; an
uncompressed RLE (`counts` as a list) is converted first; a compressed RLE is decoded as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from partbench.errors import DataNotFoundError, PartbenchError


@dataclass
class CocoFile:
    """The parts of a COCO JSON the readers use: images by id (in file order) and annotations per image (in file
    order, which matters: PartImageNet draws later polygons over earlier ones)."""

    path: Path
    images: dict[int, dict[str, Any]]
    annotations: dict[int, list[dict[str, Any]]]


def load_coco(path: Path) -> CocoFile:
    from partbench.store.atomic import read_json

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: annotation file not found.")
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
            data.get("annotations"), list):
        raise PartbenchError(f"{path}: not a COCO annotation file (expected 'images' and 'annotations' lists).")
    images: dict[int, dict[str, Any]] = {}
    for i, img in enumerate(data["images"]):
        try:
            images[int(img["id"])] = {"file_name": str(img["file_name"]), "height": int(img["height"]),
                                      "width": int(img["width"])}
        except (KeyError, TypeError, ValueError):
            raise PartbenchError(f"{path}: images[{i}] needs id, file_name, height and width.") from None
    annotations: dict[int, list[dict[str, Any]]] = {i: [] for i in images}
    for i, ann in enumerate(data["annotations"]):
        try:
            image_id, _ = int(ann["image_id"]), int(ann["category_id"])
            ann["segmentation"]
        except (KeyError, TypeError, ValueError):
            raise PartbenchError(
                f"{path}: annotations[{i}] needs image_id, category_id and segmentation.") from None
        if image_id not in annotations:
            raise PartbenchError(f"{path}: annotations[{i}] refers to image_id {image_id}, which is not in 'images'.")
        annotations[image_id].append(ann)
    return CocoFile(path=path, images=images, annotations=annotations)


def decode_segmentation(segmentation: Any, height: int, width: int, where: str) -> np.ndarray:
    """A COCO segmentation (polygons, uncompressed or compressed RLE) as an HxW bool mask.

    pycocotools decodes malformed RLE counts without complaint (into uninitialised memory), so RLE counts are checked
    to cover exactly height x width pixels first.
    """
    from pycocotools import mask as mask_utils

    try:
        if isinstance(segmentation, list):
            polygons = [p for p in segmentation if len(p) >= 6]  # pycocotools rejects degenerate polygons
            if not polygons:
                return np.zeros((height, width), dtype=bool)
            rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
            counts = segmentation["counts"]
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
                raise PartbenchError(f"{where}: RLE counts must be non-negative integers summing to "
                                     f"{height}x{width}.")
            rle = mask_utils.frPyObjects(segmentation, height, width)
        elif isinstance(segmentation, dict) and "counts" in segmentation:
            rle = dict(segmentation)
            if isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode("ascii")
            if list(rle.get("size", [])) != [height, width]:
                raise PartbenchError(f"{where}: RLE size {rle.get('size')} disagrees with the image size "
                                     f"{[height, width]} (height, width).")
            if not isinstance(rle["counts"], bytes) or _compressed_total(rle["counts"]) != height * width:
                raise PartbenchError(f"{where}: RLE counts string is malformed (it does not cover "
                                     f"{height}x{width} pixels).")
        else:
            raise PartbenchError(f"{where}: unsupported segmentation {type(segmentation).__name__}.")
        mask = mask_utils.decode(rle)
    except PartbenchError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise PartbenchError(f"{where}: cannot decode segmentation ({e}).") from None
    return mask.astype(bool)


def _compressed_total(text: bytes) -> int | None:
    """The pixels COCO's compressed RLE string covers (its LEB128-like encoding, as pycocotools' rleFrString reads
    it), or None if it is not a valid string."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text) or not 48 <= text[p] < 48 + 64:
                return None
            c = text[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            return None
        counts.append(x)
    return sum(counts)
