"""The official evaluators' ground-truth round trip (`--gt-resize SHORT,MAX`), as an option.

OV-PARTS, PartCATSeg and LangHOPS do not score the annotation PNGs as they are. Their test mapper resizes the part
and object maps with the method's test `ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST)`, masks the part map to the
sample's object at that size, and their evaluator interpolates both back to the prediction's (the image's) size
before scoring (OV_PARTS `object_part_mapper.py` and `generalized_sem_seg_evaluation.py`; docs/suites.md). So the
official ground truth depends on the method's test size. partbench scores the native maps by default; this module
reproduces the round trip step by step:

1. the test size is detectron2's `ResizeShortestEdge.get_output_shape`: scale the short side to SHORT, then the long
   side down to MAX if it exceeds it, each side rounded as `int(x + 0.5)`;
2. down: the maps are float64 arrays there (read as "double"), which detectron2's `ResizeTransform` resizes with
   `torch.nn.functional.interpolate(mode="nearest")`, not PIL;
3. the part map is set to ignore wherever the object map is not the sample's object, at test size;
4. a sample whose part map is then all ignore (its object vanished at test size) is dropped by the mapper, which
   makes the loader substitute a random other sample; partbench skips and counts it (`empty_ground_truth`);
5. up: the evaluator interpolates the part map and the object mask back with `F.interpolate(mode="nearest")`, and
   the prediction is set to ignore outside the round-tripped object mask.

torch's legacy nearest picks source index `min(floor(i * (in / out)), in - 1)` computed in float32 (identity when
the sizes agree, `i >> 1` when the output is exactly twice the input); `nearest_indices` restates that in numpy so
scoring needs no torch, and the tests compare both with `F.interpolate` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from partbench.errors import PartbenchError

if TYPE_CHECKING:
    import numpy as np

    from partbench.data.types import Sample


# Each upstream codebase's INPUT.MIN_SIZE_TEST, MAX_SIZE_TEST, from its configs (the table in docs/suites.md).
TEST_SIZES = {
    "catseg": "640,768",  # OV-PARTS base_catseg_config.yaml + catseg_voc.yaml
    "partcatseg": "640,768",  # part-catseg base_partcatseg_config.yaml
    "ovparts-clipseg": "800,1333",  # OV-PARTS CLIPSeg configs set none: detectron2's defaults
    "partclipseg": "800,1333",  # the same
}


@dataclass(frozen=True)
class GtResize:
    short: int
    max_size: int

    @classmethod
    def parse(cls, text: str) -> GtResize:
        """`640,768` (SHORT,MAX), as the method's INPUT.MIN_SIZE_TEST and INPUT.MAX_SIZE_TEST, or a codebase's name
        from `TEST_SIZES` (`partcatseg`)."""
        text = TEST_SIZES.get(str(text).strip().lower(), text)
        parts = [p.strip() for p in str(text).split(",")]
        try:
            short, max_size = (int(p) for p in parts)
        except ValueError:
            raise PartbenchError(f"--gt-resize expects SHORT,MAX (e.g. 640,768: the method's MIN_SIZE_TEST and "
                                 f"MAX_SIZE_TEST), a codebase ({', '.join(TEST_SIZES)}) or, with `run`, "
                                 f"`published`; got {text!r}.") from None
        if not 1 <= short <= max_size:
            raise PartbenchError(f"--gt-resize {text}: SHORT must be at least 1 and at most MAX.")
        return cls(short, max_size)

    def __str__(self) -> str:
        return f"{self.short},{self.max_size}"


def official_test_size(height: int, width: int, short: int, max_size: int) -> tuple[int, int]:
    """detectron2's `ResizeShortestEdge.get_output_shape` (new height, new width)."""
    size = short * 1.0
    scale = size / min(height, width)
    if height < width:
        new_h, new_w = size, scale * width
    else:
        new_h, new_w = scale * height, size
    if max(new_h, new_w) > max_size:
        scale = max_size * 1.0 / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    """Source index of each output index under torch's `F.interpolate(mode="nearest")` (no scale factor given)."""
    import numpy as np

    if size_out == size_in:
        return np.arange(size_out)
    if size_out == 2 * size_in:
        return np.arange(size_out) >> 1
    scale = np.float32(size_in) / np.float32(size_out)
    index = np.floor(np.arange(size_out, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(index, size_in - 1)


def resize_nearest(label_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rows = nearest_indices(label_map.shape[0], size[0])
    cols = nearest_indices(label_map.shape[1], size[1])
    return label_map[rows[:, None], cols[None, :]]


def round_trip(sample: Sample, spec: GtResize) -> Sample:
    """The sample with its ground truth and object mask as the official evaluator scores them (steps 1-5)."""
    import numpy as np

    from partbench.data.types import ObjectAnnotation

    h, w = sample.size
    small = official_test_size(h, w, spec.short, spec.max_size)
    object_small = resize_nearest(sample.object_mask, small)
    part_small = np.where(object_small, resize_nearest(sample.part_label_map, small), sample.ignore_label)
    part = resize_nearest(part_small, (h, w))
    object_mask = resize_nearest(object_small, (h, w))
    objects = [ObjectAnnotation(o.class_name, object_mask, o.instance_id) for o in sample.objects[:1]]
    out = replace(sample, objects=objects, part_label_map=part)
    out.__dict__.pop("has_labels", None)  # cached properties of the original sample do not carry over
    out.__dict__.pop("object_mask", None)
    return out
