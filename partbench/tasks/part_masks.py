"""A part-reasoning prediction: one mask per part of the correct answer (in its order), and, for predictions made
elsewhere, the answer the model chose. Stored as `predictions/<record id>.json` holding COCO RLE strings (the form
Partonomy's own predictions use) and the cache key.

numpy is imported inside the functions: the task kind imports this module when task kinds are listed, which
`partbench table` does, and the table must not import numpy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError

if TYPE_CHECKING:
    import numpy as np


@dataclass
class PartMasks:
    masks: np.ndarray  # (N, H, W) bool; N may differ from the number of ground-truth parts
    chosen_answer: str | None = None  # the multiple-choice answer the model picked, when it says

    def check(self, size: tuple[int, int], where: str) -> PartMasks:
        import numpy as np

        masks = np.asarray(self.masks)
        if masks.ndim != 3 or (masks.shape[0] and masks.shape[1:] != tuple(size)):
            raise PartbenchError(f"{where}: masks have shape {masks.shape}; expected (N, {size[0]}, {size[1]}).")
        if masks.shape[0] == 0:
            masks = np.zeros((0, *size), dtype=bool)
        return PartMasks(masks.astype(bool, copy=False), self.chosen_answer)


def encode_rle(mask: np.ndarray) -> str:
    import numpy as np
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return rle["counts"].decode("ascii")


def decode_rle(rle: Any, where: str) -> np.ndarray:
    """A COCO RLE dict with its own `size` (compressed or list counts), checked, as an HxW bool mask."""
    from partbench.data.coco import decode_segmentation

    size = rle.get("size") if isinstance(rle, dict) else None
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise PartbenchError(f"{where}: an RLE mask needs 'size' = [height, width] and 'counts'.")
    return decode_segmentation({"size": list(size), "counts": rle.get("counts")}, size[0], size[1], where)


def encode_file(prediction: PartMasks, key: str) -> bytes:
    h, w = prediction.masks.shape[1:]
    doc = {"key": key, "size": [int(h), int(w)], "masks": [encode_rle(m) for m in prediction.masks]}
    if prediction.chosen_answer is not None:
        doc["chosen_answer"] = prediction.chosen_answer
    return json.dumps(doc).encode()


def decode_file(path: Path) -> PartMasks:
    import numpy as np

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        size = doc["size"]
        masks = [decode_rle({"size": size, "counts": c}, f"{path}: masks[{i}]") for i, c in enumerate(doc["masks"])]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PartbenchError(f"{path}: not a part-mask prediction file ({e}).") from None
    stacked = np.stack(masks) if masks else np.zeros((0, *size), dtype=bool)
    return PartMasks(stacked, doc.get("chosen_answer"))


def stored_key(path: Path) -> str | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
