"""Crops fed to the model: the object's box (oracle-object setting) or the whole image, resized to a square.

Why crop: parts are small (hands, mirrors, headlights); the oracle-object setting gives the object's mask, and
spending the model's few tokens on the object instead of the background is what makes a 64-pixel tiny preset useful.
`crop=none` keeps the whole image (the paper's setting).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.nn import functional as F

from partbench.data.types import Sample
from partbench.errors import PartbenchError
from partbench.suites import Suite, mirrored_phrase, part_of

NO_PART = 255  # label-map value of pixels in no part of the object


@dataclass
class Crop:
    """One object of one image at model resolution."""

    sample_id: str
    object_class: str
    image: torch.Tensor  # (3, R, R) in [-1, 1]
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 in the original image
    parts: tuple[str, ...] = ()  # part phrases (training: the object's parts)
    targets: torch.Tensor | None = None  # (P, R, R) float {0,1}
    valid: torch.Tensor | None = None  # (R, R) bool: pixels that count in the loss
    flipped: bool = False


def object_box(mask: np.ndarray, margin: float, crop: str) -> tuple[int, int, int, int]:
    h, w = mask.shape
    if crop == "none" or not mask.any():
        return 0, h, 0, w
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    my, mx = int(round((y1 - y0) * margin)), int(round((x1 - x0) * margin))
    return max(0, y0 - my), min(h, y1 + my), max(0, x0 - mx), min(w, x1 + mx)


def _resize(t: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    kw = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
    return F.interpolate(t[None], size=(size, size), mode=mode, **kw)[0]


def crop_image(sample: Sample, resolution: int, margin: float, crop: str) -> Crop:
    box = object_box(sample.object_mask, margin, crop)
    y0, y1, x0, x1 = box
    image = torch.from_numpy(np.array(sample.image[y0:y1, x0:x1])).permute(2, 0, 1).float() / 127.5 - 1
    return Crop(sample.id, sample.object_class or "", _resize(image, resolution, "bilinear"), box)


def labelled_crop(sample: Sample, suite: Suite, resolution: int, margin: float, crop: str,
                  flipped: bool = False) -> tuple[Crop, torch.Tensor]:
    """A training crop and its part label map (R, R) uint8: the index of the pixel's part among the object's parts
    (`crop.parts`, the suite's order), or NO_PART. Parts never overlap in a label map, so one byte per pixel holds
    every target; `expand_targets` turns a batch of them into per-part masks on the device. `flipped`: the mirror
    image, whose left/right parts swap (a mirrored object's own left is the original's right), so mirroring is an
    augmentation drawn per sample instead of a second copy of the data."""
    out = crop_image(sample, resolution, margin, crop)
    y0, y1, x0, x1 = out.box
    ids = suite.part_ids_of(sample.object_class)
    if len(ids) >= NO_PART:
        raise PartbenchError(f"PartConcepts: {sample.object_class!r} has {len(ids)} parts; label maps hold at most "
                             f"{NO_PART - 1}.")
    labels = torch.from_numpy(sample.part_label_map[y0:y1, x0:x1].astype(np.int64))
    labels = _resize(labels[None].float(), resolution, "nearest")[0].long()
    inside = _resize(torch.from_numpy(sample.object_mask[y0:y1, x0:x1])[None].float(), resolution, "nearest")[0] > 0
    local = torch.full(labels.shape, NO_PART, dtype=torch.uint8)
    for k, i in enumerate(ids):
        local[labels == i] = k
    valid = (labels != suite.ignore_label) | ~inside  # unlabelled object pixels (annotation gaps) do not count
    parts = tuple(part_of(suite.classes[i]) for i in ids)
    out = replace(out, parts=parts, valid=valid)
    if flipped:
        swap = torch.arange(256, dtype=torch.uint8)
        swap[:len(parts)] = torch.tensor(mirror_order(parts), dtype=torch.uint8)
        out = replace(out, image=out.image.flip(-1), valid=valid.flip(-1), flipped=True)
        local = swap[local.flip(-1).long()]
    return out, local


def mirror_order(parts: Sequence[str]) -> list[int]:
    """Part k of a mirrored crop is part order[k] of the original ('left hand' <-> 'right hand'; an involution)."""
    index = {p: i for i, p in enumerate(parts)}
    return [index.get(mirrored_phrase(p) or p, i) for i, p in enumerate(parts)]


def expand_targets(labels: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
    """(B, R, R) part label maps and (B, C) part indices per prompt concept (-1: padding) -> (B, C, R, R) float {0,1}
    targets; a padded concept's target is empty."""
    hit = labels[:, None].long() == select[:, :, None, None]
    return (hit & (select >= 0)[:, :, None, None]).float()


def training_crop(sample: Sample, suite: Suite, resolution: int, margin: float, crop: str) -> Crop:
    """A crop with one target mask per part of the sample's object (absent parts get empty targets)."""
    out, labels = labelled_crop(sample, suite, resolution, margin, crop)
    select = torch.arange(len(out.parts))[None]
    return replace(out, targets=expand_targets(labels[None], select)[0])


def paste_scores(probs: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """(P, R, R) crop probabilities -> (P, H, W) image probabilities (zero outside the box)."""
    y0, y1, x0, x1 = box
    out = np.zeros((probs.shape[0], *size), dtype=np.float32)
    resized = F.interpolate(probs[None].float(), size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=False)[0]
    out[:, y0:y1, x0:x1] = resized.cpu().numpy()
    return out
