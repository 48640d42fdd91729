"""COCO segmentations decode as pycocotools encodes them, and malformed RLE counts are refused instead of being
decoded from uninitialised memory."""

from __future__ import annotations

import numpy as np
import pytest

from partbench.data.coco import decode_segmentation
from partbench.errors import PartbenchError


def _list_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed form: column-major run lengths, starting with a run of zeros."""
    flat = mask.flatten(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return np.diff(np.concatenate([[0], edges])).tolist()


def test_random_masks_round_trip_through_pycocotools_encodings():
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < rng.random()
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        compressed = {"size": [h, w], "counts": rle["counts"].decode()}
        np.testing.assert_array_equal(decode_segmentation(compressed, h, w, "x"), mask)
        np.testing.assert_array_equal(decode_segmentation({"size": [h, w], "counts": _list_counts(mask)}, h, w, "x"),
                                      mask)


@pytest.mark.parametrize("counts", ["garbage!!", "", "0000", [3, 5, 100], [3, -5, 17]])
def test_malformed_counts_are_refused(counts):
    with pytest.raises(PartbenchError, match="the entry"):
        decode_segmentation({"size": [4, 5], "counts": counts}, 4, 5, "the entry")
