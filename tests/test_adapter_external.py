"""PartCATSeg / LangHOPS adapters: importing saved predictions, and the subprocess runner with stand-in codebases."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from partbench.errors import PartbenchError
from partbench.runner import RunRequest, run
from partbench.suites import load_suite

pytestmark = pytest.mark.filterwarnings("ignore::partbench.adapters.external.methods.MergedSamplesWarning")


def _samples(demo_root):
    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    return suite, [reader.load(r) for r in reader.index("val").refs]


def _run(demo_root, method, args, **kw):
    return run(RunRequest(method=method, suite="demo", data_root=demo_root, method_args=args, bootstrap=0,
                          workers=0, **kw))


def _saved(outcome, sample_id):
    from partbench.data.images import read_label_png

    return read_label_png(outcome.run_dir / "predictions" / f"{sample_id}.png").astype(np.int64)


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


def test_import_png_directory_scores_like_partbench_score(demo_root, tmp_path):
    from partbench.scoring import score_external

    suite, samples = _samples(demo_root)
    preds = tmp_path / "pngs"
    _write_pngs(preds, samples, corrupt=True)
    outcome = _run(demo_root, "partcatseg", {"predictions": str(preds)})
    reference = score_external(suite=suite, data_root=demo_root, predictions_path=preds, split=None,
                               convention=None, name="ref", samples_path=tmp_path / "ref.jsonl", n_replicates=0,
                               workers=0)
    assert 0 < outcome.results["metrics"]["h_iou"] < 100  # the corruption is visible...
    assert outcome.results["metrics"] == reference["metrics"]  # ...and scored exactly as `partbench score` does
    config = outcome.results["method_config"]
    assert config["mode"] == "import" and "oracle-object" in config["inference_setting"]


def test_import_detectron2_json_warns_about_merged_samples_and_scores_the_ground_truth_as_100(demo_root, tmp_path):
    from pycocotools import mask as mask_utils

    from partbench.adapters.external.methods import MergedSamplesWarning

    suite, samples = _samples(demo_root)
    entries = []
    for s in samples:  # one group of entries per sample, keyed only by the image file name (protocol §7)
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
        outcome = _run(demo_root, "langhops", {"predictions": str(path)})
    assert outcome.results["metrics"]["h_iou"] == pytest.approx(100.0)


def test_import_reports_missing_samples_by_id(demo_root, tmp_path):
    _, samples = _samples(demo_root)
    preds = tmp_path / "pngs"
    _write_pngs(preds, samples, corrupt=False)
    (preds / f"{samples[1].id}.png").unlink()
    with pytest.raises(PartbenchError, match=samples[1].id):
        _run(demo_root, "partcatseg", {"predictions": str(preds)})


def test_argument_errors_name_what_to_pass(demo_root, tmp_path):
    with pytest.raises(PartbenchError, match="predictions=PATH.*repo=CHECKOUT"):
        _run(demo_root, "partcatseg", {})
    with pytest.raises(PartbenchError, match="cannot be combined"):
        _run(demo_root, "partcatseg", {"predictions": str(tmp_path), "repo": str(tmp_path)})
    with pytest.raises(PartbenchError, match="does not exist"):
        _run(demo_root, "partcatseg", {"predictions": str(tmp_path / "nope")})


# -- runner mode -----------------------------------------------------------------------------------------------------
STAND_IN_CODEBASE = '''
"""A stand-in "external codebase": scores that favour the lowest class id, plus a trace of what it was asked."""
import json
import os

import numpy as np


def predict(image_rgb, object_class, classes, checkpoint, config, device):
    with open(os.path.join(os.path.dirname(__file__), "calls.jsonl"), "a") as f:
        f.write(json.dumps({"object": object_class, "shape": list(image_rgb.shape), "checkpoint": checkpoint}) + "\\n")
    h, w = image_rgb.shape[:2]
    return -np.arange(len(classes), dtype=np.float32)[:, None, None] * np.ones((1, h, w), np.float32)
'''


@pytest.fixture
def stand_in_repo(tmp_path) -> Path:
    repo = tmp_path / "fake-checkout"
    repo.mkdir()
    (repo / "fake_codebase.py").write_text(STAND_IN_CODEBASE)
    (repo / "model.pth").write_bytes(b"weights")
    return repo


def test_runner_drives_the_shipped_worker_once_and_collects_per_sample_predictions(demo_root, stand_in_repo):
    suite, samples = _samples(demo_root)
    args = {"repo": str(stand_in_repo), "python": sys.executable, "checkpoint": str(stand_in_repo / "model.pth"),
            "driver": "fake_codebase:predict"}
    outcome = _run(demo_root, "langhops", args, batch_size=4)
    calls = [json.loads(line) for line in (stand_in_repo / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == len(samples) and calls[0]["checkpoint"].endswith("model.pth")
    assert [c["object"] for c in calls] == [s.object_class for s in samples]
    for s in samples:  # argmax of -class_id over the object's parts = its lowest part id, inside the object
        lowest = min(suite.part_ids_of(s.object_class))
        expected = np.where(s.object_mask, lowest, 255)
        np.testing.assert_array_equal(_saved(outcome, s.id), expected)
    config = outcome.results["method_config"]
    assert config["mode"] == "runner" and config["vocabulary"] == "exact" and config["driver"] == "fake_codebase:predict"
    # A second run reuses every cached prediction and never starts the worker.
    (stand_in_repo / "calls.jsonl").unlink()
    again = _run(demo_root, "langhops", args)
    assert again.predicted == 0 and not (stand_in_repo / "calls.jsonl").exists()


STAND_IN_SCRIPT = '''
"""A stand-in worker that answers like an evaluator dumping detectron2's sem_seg_predictions.json."""
import json, os, sys
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

print("some codebase log line on stdout")
print("PARTBENCH " + json.dumps({"event": "ready", "protocol": 1, "driver": "stand-in", "classes": None}), flush=True)
entries = []
for line in sys.stdin:
    req = json.loads(line)
    if req["cmd"] == "exit":
        break
    for s in req["samples"]:
        part = np.array(Image.open(s["gt"]))
        obj = np.array(Image.open(s["gt"].replace("_part", "_obj")))
        label = np.where(part == 255, len(req["classes"]), part)
        for cat in np.unique(label):
            rle = mask_utils.encode(np.asfortranarray((label == cat).astype(np.uint8)))
            entries.append({"file_name": s["image_path"], "category_id": int(cat),
                            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    with open(os.path.join(req["out_dir"], "sem_seg_predictions.json"), "w") as f:
        json.dump(entries, f)
    print("PARTBENCH " + json.dumps({"event": "done", "ids": []}), flush=True)
'''


def test_runner_collects_a_detectron2_json_written_by_a_stand_in_script(demo_root, stand_in_repo, monkeypatch):
    """The stand-in reads each image's ground truth (the path is derived from the image path, as the external
    codebase's own data loader would) and writes it as sem_seg_predictions.json: the merged import must score 100."""
    from partbench.adapters.external import methods

    script = stand_in_repo / "stand_in_worker.py"
    script.write_text(STAND_IN_SCRIPT.replace(
        's["gt"]', 's["image_path"].replace("/images/", "/annotations_detectron2_part/").replace(".jpg", ".png")'))
    args = {"repo": str(stand_in_repo), "python": sys.executable, "script": str(script)}
    with pytest.warns(methods.MergedSamplesWarning):
        outcome = _run(demo_root, "partcatseg", args)
    assert outcome.results["metrics"]["h_iou"] == pytest.approx(100.0)
    assert outcome.results["method_config"]["script"] == str(script.absolute())


def test_runner_reports_a_worker_that_dies_and_a_codebase_error(demo_root, stand_in_repo):
    dying = stand_in_repo / "dying.py"
    dying.write_text("import sys\nprint('loading...')\nsys.exit(3)\n")
    with pytest.raises(PartbenchError, match="exited with status 3"):
        _run(demo_root, "partcatseg", {"repo": str(stand_in_repo), "python": sys.executable, "script": str(dying)})
    (stand_in_repo / "broken.py").write_text("def predict(*a, **k):\n    raise RuntimeError('CUDA out of memory')\n")
    with pytest.raises(PartbenchError, match="CUDA out of memory"):
        _run(demo_root, "langhops", {"repo": str(stand_in_repo), "python": sys.executable, "driver": "broken:predict"},
             output_root=Path("runs2"))


def test_langhops_runner_without_a_driver_says_what_to_pass(demo_root, stand_in_repo):
    with pytest.raises(PartbenchError, match="driver=MODULE:FUNCTION"):
        _run(demo_root, "langhops", {"repo": str(stand_in_repo), "python": sys.executable})


def test_worker_script_is_stdlib_numpy_pil_only_and_python38_syntax():
    """The worker runs in the external environment: no partbench import, no 3.9+ syntax (checked with ast)."""
    import ast

    from partbench.adapters.external.process import WORKER_SCRIPT

    source = WORKER_SCRIPT.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    top_level = {a.name.split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                 for a in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert top_level <= {"argparse", "importlib", "json", "os", "sys", "numpy"}
    assert "WORKER_PROTOCOL = 1" in source
