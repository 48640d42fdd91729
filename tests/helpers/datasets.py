"""Miniature datasets in the real on-disk formats, built from numpy arrays the tests know, plus an independent
re-statement of the official OV-PARTS scoring rule (see docs/suites.md) to check `partbench score` against.

Polygons are axis-aligned rectangles with corners on pixel boundaries: in COCO's convention the polygon
(x0,y0)-(x1,y1) covers exactly the pixels [y0:y1, x0:x1], so the expected ground truth is written with numpy slicing,
not with pycocotools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

IGNORE16 = 65535


def rect_polygon(x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def rect_mask(h: int, w: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def rle_compressed(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def rle_uncompressed(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: run lengths over the column-major flattening, starting with a run of zeros."""
    flat = mask.astype(np.uint8).reshape(-1, order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def save_jpg(path: Path, h: int, w: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (120, 90, 60)).save(path)


def save_png(path: Path, arr: np.ndarray, bits: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = {8: np.uint8, 16: np.uint16}.get(bits) or (np.uint16 if arr.max(initial=0) > 255 else np.uint8)
    Image.fromarray(np.ascontiguousarray(arr.astype(dtype))).save(path)


@dataclass
class Expected:
    """What a fixture should read as: sample ids in order, and each sample's ground truth (HxW, suite ids)."""

    ids: list[str] = field(default_factory=list)
    gt: dict[str, np.ndarray] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)

    def add(self, sid: str, gt: np.ndarray, obj: str) -> None:
        self.ids.append(sid)
        self.gt[sid] = gt
        self.objects[sid] = obj


# ---------------------------------------------------------------------------------------------------------------------
# ADE20K-Part-234


def build_ade(root: Path, suite) -> dict[str, Expected]:
    """Validation image (6x8): a person (polygon) and a bus (compressed RLE). Training image (5x6): a person (seen:
    train split only) and a bench (unseen: in the official test set, never in train), the bench as uncompressed RLE.
    """
    P = {c: i for i, c in enumerate(suite.classes)}
    OBJ = {c: i for i, c in enumerate(suite.object_classes)}
    base = root / "ADE20KPart234"
    exp = {"val": Expected(), "train": Expected()}

    h, w = 6, 8
    part = np.full((h, w), IGNORE16, dtype=np.int64)
    part[0:2, 0:4] = P["person's head"]
    part[2:6, 0:4] = P["person's torso"]
    part[5, 0] = IGNORE16  # an unlabelled person pixel
    part[0:6, 5:8] = P["bus's wheel"]
    part[0:2, 5:8] = P["bus's window"]
    save_png(base / "annotations_detectron2_part/validation/ADE_val_00000001.png", part, bits=16)
    save_jpg(base / "images/validation/ADE_val_00000001.jpg", h, w)
    person = rect_mask(h, w, 0, 0, 4, 6)
    bus = rect_mask(h, w, 5, 0, 8, 6)
    val = {"images": [{"id": 1, "file_name": "ADE_val_00000001.jpg", "height": h, "width": w}],
           "annotations": [
               {"id": 11, "image_id": 1, "category_id": OBJ["person"], "segmentation": rect_polygon(0, 0, 4, 6)},
               {"id": 12, "image_id": 1, "category_id": OBJ["bus"], "segmentation": rle_compressed(bus)}],
           "categories": [{"id": i, "name": n} for i, n in enumerate(suite.object_classes)]}
    exp["val"].add("ADE_val_00000001__11", np.where(person, part, IGNORE16), "person")
    exp["val"].add("ADE_val_00000001__12", np.where(bus, part, IGNORE16), "bus")

    h2, w2 = 5, 6
    part2 = np.full((h2, w2), IGNORE16, dtype=np.int64)
    part2[0:5, 0:3] = P["person's leg"]
    part2[0:2, 3:6] = P["bench's seat"]
    part2[2:5, 3:6] = P["bench's leg"]
    # Fully labelled and still 16-bit, as the release writes every part map.
    save_png(base / "annotations_detectron2_part/training/ADE_train_00000001.png", part2, bits=16)
    save_jpg(base / "images/training/ADE_train_00000001.jpg", h2, w2)
    bench = rect_mask(h2, w2, 3, 0, 6, 5)
    person2 = rect_mask(h2, w2, 0, 0, 3, 5)
    train = {"images": [{"id": 7, "file_name": "ADE_train_00000001.jpg", "height": h2, "width": w2}],
             "annotations": [
                 {"id": 21, "image_id": 7, "category_id": OBJ["person"], "segmentation": rect_polygon(0, 0, 3, 5)},
                 {"id": 22, "image_id": 7, "category_id": OBJ["bench"], "segmentation": rle_uncompressed(bench)}],
             "categories": val["categories"]}
    exp["val"].add("ADE_train_00000001__22", np.where(bench, part2, IGNORE16), "bench")
    exp["train"].add("ADE_train_00000001__21", np.where(person2, part2, IGNORE16), "person")
    (base / "ade20k_instance_val.json").write_text(json.dumps(val))
    (base / "ade20k_instance_train.json").write_text(json.dumps(train))
    return exp


# ---------------------------------------------------------------------------------------------------------------------
# PartImageNet (zero-shot and OOD)


def _pin_part_ids(spec: dict) -> dict[str, int]:
    return {c["name"]: int(c["id"]) for c in spec["part_categories_coco"]}


def build_partimagenet(root: Path, suite, spec: dict, folder: str = "PartImageNet", nested: bool = False,
                       seen_obj: str = "warplane", unseen_obj: str = "ice bear",
                       train_seen_only: bool = True) -> dict[str, Expected]:
    """val: an unseen quadruped (two overlapping polygons, the later one wins, plus a foot as uncompressed RLE), a
    seen aeroplane (compressed RLE body, polygon wing), and an image of an object outside the suite (skipped).
    train: a seen aeroplane (kept) and an unseen quadruped (dropped from train). `nested` puts images in per-synset
    folders as the PartImageNet_OOD release does."""
    P = {c: i for i, c in enumerate(suite.classes)}
    cat = _pin_part_ids(spec)
    syn = spec["object_synsets"]
    base = root / folder
    exp = {"val": Expected(), "train": Expected()}
    jsons = {}
    images = {
        "val": [(f"{syn[unseen_obj]}_1", unseen_obj, "quad"), (f"{syn[seen_obj]}_2", seen_obj, "plane"),
                ("n99999999_3", None, "quad")],
        "train": [(f"{syn[seen_obj]}_5", seen_obj, "plane"), (f"{syn[unseen_obj]}_6", unseen_obj, "quad")],
    }
    ann_id = 100
    for split, items in images.items():
        doc = {"images": [], "annotations": [], "categories": spec["part_categories_coco"]}
        for k, (stem, obj, kind) in enumerate(items, 1):
            h, w = 6, 7
            image_path = base / "images" / split / ((stem.split("_")[0] + "/") if nested else "") / f"{stem}.JPEG"
            save_jpg(image_path, h, w)
            doc["images"].append({"id": k, "file_name": f"{stem}.JPEG", "height": h, "width": w})
            gt = np.full((h, w), IGNORE16, dtype=np.int64)
            if kind == "quad":
                body = (cat["Quadruped Body"], rect_polygon(0, 0, 5, 4))
                head = (cat["Quadruped Head"], rect_polygon(3, 0, 6, 2))  # drawn after the body: wins the overlap
                foot_mask = rect_mask(h, w, 1, 4, 3, 6)
                foot = (cat["Quadruped Foot"], rle_uncompressed(foot_mask))
                anns = [body, head, foot]
                if obj:
                    gt[0:4, 0:5] = P[f"{obj}'s body"]
                    gt[0:2, 3:6] = P[f"{obj}'s head"]
                    gt[foot_mask] = P[f"{obj}'s foot"]
            else:
                body_mask = rect_mask(h, w, 0, 2, 7, 4)
                anns = [(cat["Aeroplane Body"], rle_compressed(body_mask)),
                        (cat["Aeroplane Wing"], rect_polygon(2, 0, 4, 6))]
                gt[body_mask] = P[f"{obj}'s body"]
                gt[0:6, 2:4] = P[f"{obj}'s wing"]
            for cid, seg in anns:
                ann_id += 1
                doc["annotations"].append({"id": ann_id, "image_id": k, "category_id": cid, "segmentation": seg})
            if obj and not (split == "train" and train_seen_only and obj in suite.unseen_objects):
                exp[split].add(stem, gt, obj)
        jsons[split] = doc
    for split, doc in jsons.items():
        (base / f"{split}.json").write_text(json.dumps(doc))
    return exp


# ---------------------------------------------------------------------------------------------------------------------
# Pascal-Part (.mat, the exact struct layout of the official files)


def mat_objects(objects: list[dict]) -> np.ndarray:
    """A (1, N) MATLAB struct array with fields class, class_ind, mask, parts; each `parts` a (1, P) struct array
    with fields part_name, mask, or a (0, 0) array when the object has no parts."""
    arr = np.zeros((1, len(objects)), dtype=[("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")])
    for k, o in enumerate(objects):
        parts = o["parts"]
        if parts:
            p_arr = np.zeros((1, len(parts)), dtype=[("part_name", "O"), ("mask", "O")])
            for j, (name, mask) in enumerate(parts):
                p_arr[0, j] = (name, mask.astype(np.uint8))
        else:
            p_arr = np.zeros((0, 0))
        arr[0, k] = (o["class"], np.array([[o["class_ind"]]], dtype=np.uint8), o["mask"].astype(np.uint8), p_arr)
    return arr


def save_mat(path: Path, imname: str, objects: list[dict]) -> None:
    import scipy.io

    path.parent.mkdir(parents=True, exist_ok=True)
    anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
    anno[0, 0] = (imname, mat_objects(objects))
    scipy.io.savemat(str(path), {"anno": anno})


def build_pascal_part(root: Path, suite) -> dict[str, Expected]:
    """val image A (6x8): a person (left/right lower arms, hand, an unlabelled silhouette pixel) and a dog;
    val image B (4x5): ONE object (a car with ONE part `wheel_3`) plus nothing else -> dict-shaped in scipy;
    val image C (4x4): a table (class string 'table', no parts) and a tvmonitor without parts (empty ground truth);
    train image D: a sheep. Image E is listed in val.txt but has no .mat file."""
    P = {c: i for i, c in enumerate(suite.classes)}
    ann = root / "pascal-part" / "Annotations_Part"
    voc = root / "VOCdevkit" / "VOC2010"
    exp = {"val": Expected(), "train": Expected()}

    h, w = 6, 8
    person = rect_mask(h, w, 0, 0, 4, 6)
    larm, rarm, lhand = rect_mask(h, w, 0, 0, 2, 3), rect_mask(h, w, 2, 0, 4, 3), rect_mask(h, w, 0, 3, 4, 5)
    dog = rect_mask(h, w, 5, 0, 8, 6)
    dhead, dleg = rect_mask(h, w, 5, 0, 8, 2), rect_mask(h, w, 5, 2, 8, 6)
    save_mat(ann / "2008_000001.mat", "2008_000001", [
        {"class": "person", "class_ind": 15, "mask": person,
         "parts": [("llarm", larm), ("rlarm", rarm), ("lhand", lhand)]},
        {"class": "dog", "class_ind": 12, "mask": dog, "parts": [("head", dhead), ("lfleg", dleg)]},
    ])
    save_jpg(voc / "JPEGImages/2008_000001.jpg", h, w)
    gt = np.full((h, w), 255, dtype=np.int64)
    gt[larm] = P["person's left lower arm"]
    gt[rarm] = P["person's right lower arm"]
    gt[lhand] = P["person's left hand"]
    exp["val"].add("2008_000001__person_1", gt, "person")
    gt = np.full((h, w), 255, dtype=np.int64)
    gt[dhead] = P["dog's head"]
    gt[dleg] = P["dog's left front leg"]
    exp["val"].add("2008_000001__dog_2", gt, "dog")

    h, w = 4, 5
    car, wheel = rect_mask(h, w, 0, 0, 5, 4), rect_mask(h, w, 0, 2, 5, 4)
    save_mat(ann / "2008_000002.mat", "2008_000002", [
        {"class": "car", "class_ind": 7, "mask": car, "parts": [("wheel_3", wheel)]}])
    save_jpg(voc / "JPEGImages/2008_000002.jpg", h, w)
    gt = np.full((h, w), 255, dtype=np.int64)
    gt[wheel] = P["car's wheel"]
    exp["val"].add("2008_000002__car_1", gt, "car")

    h, w = 4, 4
    save_mat(ann / "2008_000003.mat", "2008_000003", [
        {"class": "table", "class_ind": 11, "mask": rect_mask(h, w, 0, 0, 2, 4), "parts": []},
        {"class": "tvmonitor", "class_ind": 20, "mask": rect_mask(h, w, 2, 0, 4, 4), "parts": []}])
    save_jpg(voc / "JPEGImages/2008_000003.jpg", h, w)
    # The tvmonitor is a sample of a part-bearing class with no part pixels: listed, then skipped when loaded.

    h, w = 4, 4
    sheep, shead = rect_mask(h, w, 0, 0, 4, 4), rect_mask(h, w, 0, 0, 4, 2)
    save_mat(ann / "2008_000004.mat", "2008_000004", [
        {"class": "sheep", "class_ind": 17, "mask": sheep, "parts": [("head", shead)]}])
    save_jpg(voc / "JPEGImages/2008_000004.jpg", h, w)
    gt = np.full((h, w), 255, dtype=np.int64)
    gt[shead] = P["sheep's head"]
    exp["train"].add("2008_000004__sheep_1", gt, "sheep")

    main = voc / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    (main / "val.txt").write_text("2008_000001\n2008_000002\n2008_000003\n2008_000005\n")
    (main / "train.txt").write_text("2008_000004\n")
    return exp


# ---------------------------------------------------------------------------------------------------------------------
# The official rule, restated independently


def official_scores(pairs: list[tuple[np.ndarray, np.ndarray]], classes: list[str], unseen_objects: set[str],
                    ignore: int) -> dict[str, float]:
    """OV-PARTS: (C+1)^2 bincount with ignore -> C, summed over samples; IoU over classes with ground truth, divided by
    the number of classes with ground truth or prediction; h = 2su/(s+u). Percent; NaN where undefined."""
    c = len(classes)
    conf = np.zeros((c + 1, c + 1), dtype=np.int64)
    for gt, pred in pairs:
        g = np.where(gt == ignore, c, gt).astype(np.int64).reshape(-1)
        p = np.where((pred == ignore) | (gt == ignore), c, pred).astype(np.int64).reshape(-1)
        conf += np.bincount((c + 1) * p + g, minlength=(c + 1) ** 2).reshape(c + 1, c + 1)
    tp = np.diag(conf)[:-1].astype(float)
    pos_gt = conf[:-1, :-1].sum(axis=0).astype(float)
    pos_pred = conf[:-1, :-1].sum(axis=1).astype(float)
    unseen = np.array([x.split("'s")[0] in unseen_objects for x in classes])

    def miou(subset):
        valid = (pos_gt > 0) & subset
        denom = ((pos_gt + pos_pred) > 0) & subset
        if not denom.any():
            return float("nan")
        return 100 * float(np.sum(tp[valid] / (pos_gt + pos_pred - tp)[valid])) / int(denom.sum())

    s, u = miou(~unseen), miou(unseen)
    return {"seen_miou": s, "unseen_miou": u, "miou": miou(np.ones(c, dtype=bool)),
            "h_iou": 2 * s * u / (s + u) if (s + u) > 0 else float("nan")}


def write_predictions(folder: Path, preds: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for sid, pred in preds.items():
        save_png(folder / f"{sid}.png", pred)
    return folder
