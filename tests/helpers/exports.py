"""The demo suite's ground truth exported the ways other codebases save predictions: PNG class-id maps per sample,
and detectron2's sem_seg_predictions.json entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from partbench.suites import load_suite


def oracle_maps(demo_root: Path, folder: Path, fmt: str = "PNG", suffix: str = ".png") -> list[str]:
    """The val ground truth as one `<sample id><suffix>` map per sample, saved in image format `fmt`; the ids."""
    reader = load_suite("demo").make_reader(demo_root)
    folder.mkdir(parents=True)
    ids = []
    for ref in reader.index("val").refs:
        Image.fromarray(reader.load(ref).part_label_map.astype(np.uint8)).save(folder / f"{ref.id}{suffix}", fmt)
        ids.append(ref.id)
    return ids


def detectron2_entries(demo_root: Path, uncompressed: bool) -> list[dict]:
    """The ground truth as detectron2's sem_seg_predictions.json (label C marks off-object pixels)."""
    from pycocotools import mask as mask_utils

    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    entries = []
    for ref in reader.index("val").refs:
        label = reader.load(ref).part_label_map.astype(np.int64)
        label[label == 255] = suite.num_classes
        for k in np.unique(label):
            mask = label == k
            if uncompressed:  # column-major runs starting with zeros, as COCO's list form counts them
                flat = mask.flatten(order="F").astype(np.int8)
                edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
                counts = np.diff(np.concatenate([[0], edges])).tolist()
                segmentation = {"size": list(mask.shape), "counts": counts}
            else:
                rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
                segmentation = {"size": rle["size"], "counts": rle["counts"].decode()}
            entries.append({"file_name": f"{ref.image_id}.jpg", "category_id": int(k), "segmentation": segmentation})
    return entries
