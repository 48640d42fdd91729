"""A miniature Pascal-Part-116 split whose scores were recorded before issue 20's decode-once / count-once rework.

Everything is drawn from integer formulas (no random generator), so the files are the same on every numpy. The
split has what the one-image caches and the per-image counting must get right: several objects per image (two
blobs of one class make one sample), a part-less object (skipped at indexing), an object whose parts are all
unlabelled (skipped when loaded), images of different sizes, image-level prediction files shared by an image's
samples, per-sample files for one image, predictions of other objects' parts and of "nothing" (255), and an image
without any prediction (scored as empty under --allow-missing).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from partbench.suites import load_suite

SUITE = load_suite("pascal-part-116")
OBJ = {name: i for i, name in enumerate(SUITE.object_classes)}
IGNORE = SUITE.ignore_label

# image -> objects, each as (class, [(y0, y1, x0, x1), ...]) rectangles; later rectangles paint over earlier ones.
IMAGES: dict[str, list[tuple[str, list[tuple[int, int, int, int]]]]] = {
    "2008_000001": [("person", [(2, 20, 3, 14)]), ("dog", [(10, 22, 16, 30)])],
    "2008_000002": [("boat", [(0, 10, 0, 12)]), ("cat", [(8, 24, 10, 33)])],
    "2008_000003": [("car", [(1, 9, 1, 12), (14, 24, 20, 34)]), ("bird", [(3, 12, 22, 30)])],
    "2008_000004": [("person", [(0, 25, 0, 10)]), ("horse", [(5, 25, 12, 28)]), ("bus", [(0, 6, 30, 36)])],
    "2008_000005": [("sheep", [(4, 20, 4, 30)])],
    "2008_000006": [("cow", [(0, 15, 0, 18)]), ("motorbike", [(15, 27, 5, 35)])],
    "2008_000007": [("aeroplane", [(2, 12, 2, 30)]), ("bicycle", [(14, 26, 8, 26)])],
}
EMPTY_PARTS = {("2008_000003", "bird")}  # every part pixel unlabelled: the sample is skipped when loaded
NO_PREDICTION = "2008_000005"  # no file: scored as predicting nothing (--allow-missing)
PER_SAMPLE = "2008_000007"  # one file per sample instead of one per image


def size(k: int) -> tuple[int, int]:
    return 25 + k % 3, 34 + 2 * (k % 2)


def maps(k: int, image_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The part and object maps of the k-th image."""
    h, w = size(k)
    y, x = np.mgrid[0:h, 0:w]
    part = np.full((h, w), IGNORE, dtype=np.int64)
    obj = np.full((h, w), IGNORE, dtype=np.int64)
    for name, rects in IMAGES[image_id]:
        ids = SUITE.part_ids_of(name)
        for y0, y1, x0, x1 in rects:
            inside = (y >= y0) & (y < y1) & (x >= x0) & (x < x1)
            obj[inside] = OBJ[name]
            if not ids or (image_id, name) in EMPTY_PARTS:
                part[inside] = IGNORE
                continue
            labels = np.asarray(ids)[(3 * x + 5 * y + k) % len(ids)]
            labels[(x + y + k) % 7 == 0] = IGNORE  # unlabelled pixels inside the object
            part[inside] = labels[inside]
    return part, obj


def prediction(k: int, part: np.ndarray, salt: int = 0) -> np.ndarray:
    """Right on about half the labelled pixels; elsewhere any class, or 255 (no prediction)."""
    h, w = part.shape
    y, x = np.mgrid[0:h, 0:w]
    v = (7 * x + 11 * y + 13 * k + 17 * salt) % 130
    pred = np.where(v >= SUITE.num_classes, IGNORE, v)
    right = ((x * y + k + salt) % 5 < 3) & (part != IGNORE)
    return np.where(right, part, pred)


def save_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def build(root: Path, counts_json: bool = False) -> Path:
    """Write the split under `root/PascalPart116` and the predictions under `root/predictions`; returns the latter."""
    base = root / "PascalPart116"
    preds = root / "predictions"
    preds.mkdir(parents=True, exist_ok=True)
    counts = {}
    for k, image_id in enumerate(IMAGES):
        part, obj = maps(k, image_id)
        save_png(base / "annotations_detectron2_part/val" / f"{image_id}.png", part)
        save_png(base / "annotations_detectron2_obj/val" / f"{image_id}.png", obj)
        h, w = part.shape
        (base / "images/val").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (100, 110, 120)).save(base / "images/val" / f"{image_id}.jpg")
        counts[f"{image_id}.png"] = sorted(int(o) for o in np.unique(obj) if o != IGNORE)
        if image_id == NO_PREDICTION:
            continue
        if image_id == PER_SAMPLE:
            for salt, (name, _) in enumerate(IMAGES[image_id], start=1):
                save_png(preds / f"{image_id}__{name}.png", prediction(k, part, salt))
        else:
            save_png(preds / f"{image_id}.png", prediction(k, part))
    if counts_json:
        (base / "annotations_detectron2_part/val_obj_label_count.json").write_text(json.dumps(counts))
    return preds


def scores_text(results: dict) -> str:
    """What results.json computes from the rows alone, as exact text (floats by repr): point metrics under every
    convention, per class and per mirrored pair. (Intervals follow the rows too, but also the interval method, which
    changes on its own schedule: `convention_version`.)"""
    keys = ("metrics", "by_convention", "per_class", "lr_pairs", "n_samples", "n_skipped")
    return json.dumps({k: results.get(k) for k in keys}, sort_keys=True)
