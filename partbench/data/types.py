"""The sample types every reader produces and every method consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SampleRef:
    """A lightweight pointer to one evaluation sample; cheap to list for a whole split.

    `id` is the stable sample key used for prediction file names and cache keys (e.g. `2008_000002__dog`);
    `image_id` names the image (several samples can share one image); `object_class` is the sample's object in the
    oracle-object setting. `extra` holds reader-specific fields (annotation paths, object ids).
    """

    id: str
    image_id: str
    image_path: Path
    object_class: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class ObjectAnnotation:
    """One object (or the union of all instances of one class) in an image."""

    class_name: str
    mask: np.ndarray  # HxW bool
    instance_id: int | None = None


@dataclass
class Sample:
    """A loaded sample: the image (decoded lazily), its objects, and its part ground truth.

    `part_label_map` is HxW in the suite's part-class id space; the suite's ignore value marks pixels that are not
    scored (unlabelled, background, other objects).
    """

    ref: SampleRef
    objects: list[ObjectAnnotation]
    part_label_map: np.ndarray
    ignore_label: int
    prompt: str | None = None

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def image_id(self) -> str:
        return self.ref.image_id

    @property
    def object_class(self) -> str | None:
        return self.ref.object_class

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the ground truth, which predictions must match."""
        h, w = self.part_label_map.shape[:2]
        return int(h), int(w)

    @cached_property
    def has_labels(self) -> bool:
        """False when no pixel of the sample is labelled: such samples are skipped and counted, never scored."""
        return bool(np.any(self.part_label_map != self.ignore_label))

    @cached_property
    def image(self) -> np.ndarray:
        """HxWx3 uint8 RGB, decoded on first access."""
        from PIL import Image

        from partbench.errors import PartbenchError

        try:
            with Image.open(self.ref.image_path) as im:
                arr = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise PartbenchError(f"{self.ref.image_path}: cannot read image ({e}).") from None
        if arr.shape[:2] != self.size:
            raise PartbenchError(
                f"{self.ref.image_path}: image is {arr.shape[1]}x{arr.shape[0]} but its annotation is "
                f"{self.size[1]}x{self.size[0]}."
            )
        return arr

    @cached_property
    def object_mask(self) -> np.ndarray:
        """Union of the sample's object masks (HxW bool): where the oracle-object setting scores pixels."""
        mask = np.zeros(self.size, dtype=bool)
        for obj in self.objects:
            mask |= obj.mask
        return mask
