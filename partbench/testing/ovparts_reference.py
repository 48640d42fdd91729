"""A deliberately plain re-statement of the official OV-PARTS evaluator, for parity tests and speed baselines.

Written from the OV-PARTS protocol (oracle-object setting; the `ovparts` averaging rule that
`partbench.metrics.conventions` describes), not from partbench's code, and importing none of it: per image, per object
class in the image, mask the prediction outside the object, `np.bincount` a full (C+1)x(C+1) matrix with ignore
mapped to C, sum over the split, then average IoUs with the acc_valid numerator and iou_valid denominator. It reads
the OV-PARTS directory layout itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def evaluate(dataset_dir: Path, split: str, predictions: Path, classes: list[str], object_classes: list[str],
             unseen_objects: set[str], ignore: int = 255,
             prediction_name=lambda image_id, obj: f"{image_id}__{obj}") -> dict:
    c = len(classes)
    conf = np.zeros((c + 1, c + 1), dtype=np.int64)
    part_dir = Path(dataset_dir) / "annotations_detectron2_part" / split
    obj_dir = Path(dataset_dir) / "annotations_detectron2_obj" / split
    for part_path in sorted(part_dir.glob("*.png")):
        image_id = part_path.stem
        part = np.array(Image.open(part_path)).astype(np.int64)
        obj = np.array(Image.open(obj_dir / part_path.name)).astype(np.int64)
        for obj_id in np.unique(obj):
            if obj_id == ignore:
                continue
            name = object_classes[obj_id]
            pred_path = Path(predictions) / f"{prediction_name(image_id, name)}.png"
            if not pred_path.exists():  # objects without part classes have no prediction and no labelled pixels
                continue
            gt = np.where(obj == obj_id, part, ignore)
            pred = np.array(Image.open(pred_path)).astype(np.int64)
            pred[obj != obj_id] = ignore
            gt[gt == ignore] = c
            pred[pred == ignore] = c
            conf += np.bincount((c + 1) * pred.reshape(-1) + gt.reshape(-1),
                                minlength=(c + 1) ** 2).reshape(c + 1, c + 1)

    tp = np.diag(conf)[:-1].astype(np.float64)
    pos_gt = conf[:-1, :-1].sum(axis=0).astype(np.float64)
    pos_pred = conf[:-1, :-1].sum(axis=1).astype(np.float64)
    acc_valid = pos_gt > 0
    iou_valid = (pos_gt + pos_pred) > 0
    iou = np.full(c, np.nan)
    iou[acc_valid] = tp[acc_valid] / (pos_gt + pos_pred - tp)[acc_valid]
    unseen = np.array([cls.split("'s")[0] in unseen_objects for cls in classes])

    def miou(subset):
        return 100 * np.sum(iou[acc_valid & subset]) / np.sum(iou_valid & subset)

    seen_m, unseen_m = miou(~unseen), miou(unseen)
    return {"seen_miou": seen_m, "unseen_miou": unseen_m, "miou": miou(np.ones(c, dtype=bool)),
            "h_iou": 2 * seen_m * unseen_m / (seen_m + unseen_m)}
