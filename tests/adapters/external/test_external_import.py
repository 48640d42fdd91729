"""PartCATSeg / LangHOPS adapters: vocabulary rules, importing saved predictions, argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from partbench.errors import PartbenchError

pytestmark = pytest.mark.filterwarnings("ignore::partbench.adapters.external.methods.MergedSamplesWarning")


# -- vocabulary rules ------------------------------------------------------------------------------------------------
def test_substring_rule_leaks_like_partcatseg_and_exact_does_not():
    from partbench.adapters.external.vocabulary import allowed_ids

    classes = ["cabinet's door", "door's handle", "armchair's arm", "chair's leg", "traffic light's pole"]
    assert allowed_ids(classes, "door", "exact") == [1]
    assert allowed_ids(classes, "door", "substring") == [0, 1]
    assert allowed_ids(classes, "chair", "exact") == [3]
    assert allowed_ids(classes, "chair", "substring") == [2, 3]
    assert allowed_ids(classes, "light", "exact") == []
    assert allowed_ids(classes, "light", "substring") == [4]
    with pytest.raises(PartbenchError, match="vocabulary"):
        allowed_ids(classes, "door", "fuzzy")


# -- import mode -----------------------------------------------------------------------------------------------------
def _write_pngs(folder: Path, samples, corrupt: bool) -> None:
    from PIL import Image

    folder.mkdir()
    for k, s in enumerate(samples):
        label = s.part_label_map.astype(np.uint8).copy()
        if corrupt and k % 2 == 0:  # every other sample: one labelled row becomes "no prediction"
            rows = np.flatnonzero((label != 255).any(axis=1))
            label[rows[0]] = 255
        Image.fromarray(label).save(folder / f"{s.id}.png")


def test_import_png_directory_scores_like_partbench_score(demo_root, demo_samples, run_demo, tmp_path):
    from partbench.run import ScoreRequest, score

    suite, samples = demo_samples
    preds = tmp_path / "pngs"
    _write_pngs(preds, samples, corrupt=True)
    outcome = run_demo("partcatseg", {"predictions": str(preds)})
    reference = score(ScoreRequest(suite=suite.name, data_root=demo_root, predictions=preds, name="ref",
                                   samples_path=tmp_path / "ref.jsonl", bootstrap=0))
    assert 0 < outcome.results["metrics"]["h_iou"] < 100  # the corruption is visible...
    assert outcome.results["metrics"] == reference["metrics"]  # ...and scored exactly as `partbench score` does
    config = outcome.results["method_config"]
    assert config["mode"] == "import" and "oracle-object" in config["inference_setting"]


def test_import_detectron2_json_warns_about_merged_samples_and_scores_the_ground_truth_as_100(
        demo_samples, run_demo, tmp_path):
    from pycocotools import mask as mask_utils

    from partbench.adapters.external.methods import MergedSamplesWarning

    suite, samples = demo_samples
    entries = []
    for s in samples:  # one group of entries per sample, keyed only by the image file name
        label = np.where(s.part_label_map == suite.ignore_label, suite.num_classes, s.part_label_map)
        for cat in np.unique(label):
            rle = mask_utils.encode(np.asfortranarray((label == cat).astype(np.uint8)))
            entries.append({"file_name": str(s.ref.image_path), "category_id": int(cat),
                            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    path = tmp_path / "inference" / "sem_seg_predictions.json"
    path.parent.mkdir()
    path.write_text(json.dumps(entries))
    assert len({s.image_id for s in samples}) < len(samples)  # the demo has images with several samples
    with pytest.warns(MergedSamplesWarning, match="images of demo/val have several samples"):
        outcome = run_demo("langhops", {"predictions": str(path)})
    assert outcome.results["metrics"]["h_iou"] == pytest.approx(100.0)


def test_import_reports_missing_samples_by_id(demo_samples, run_demo, tmp_path):
    _, samples = demo_samples
    preds = tmp_path / "pngs"
    _write_pngs(preds, samples, corrupt=False)
    (preds / f"{samples[1].id}.png").unlink()
    with pytest.raises(PartbenchError, match=samples[1].id):
        run_demo("partcatseg", {"predictions": str(preds)})


def test_argument_errors_name_what_to_pass(run_demo, tmp_path):
    with pytest.raises(PartbenchError, match="predictions=PATH.*repo=CHECKOUT"):
        run_demo("partcatseg", {})
    with pytest.raises(PartbenchError, match="cannot be combined"):
        run_demo("partcatseg", {"predictions": str(tmp_path), "repo": str(tmp_path)})
    with pytest.raises(PartbenchError, match="does not exist"):
        run_demo("partcatseg", {"predictions": str(tmp_path / "nope")})
