"""PartCATSeg / LangHOPS adapters: the subprocess runner (shipped worker) with a stand-in codebase or script."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from partbench.errors import PartbenchError

pytestmark = pytest.mark.filterwarnings("ignore::partbench.adapters.external.methods.MergedSamplesWarning")


def test_runner_drives_the_shipped_worker_once_and_collects_per_sample_predictions(demo_samples, run_demo,
                                                                                    saved_prediction, stand_in_repo):
    suite, samples = demo_samples
    args = {"repo": str(stand_in_repo), "python": sys.executable, "checkpoint": str(stand_in_repo / "model.pth"),
            "driver": "fake_codebase:predict"}
    outcome = run_demo("langhops", args, batch_size=4)
    calls = [json.loads(line) for line in (stand_in_repo / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == len(samples) and calls[0]["checkpoint"].endswith("model.pth")
    assert [c["object"] for c in calls] == [s.object_class for s in samples]
    for s in samples:  # argmax of -class_id over the object's parts = its lowest part id, inside the object
        lowest = min(suite.part_ids_of(s.object_class))
        expected = np.where(s.object_mask, lowest, 255)
        np.testing.assert_array_equal(saved_prediction(outcome.run_dir, s.id), expected)
    config = outcome.results["method_config"]
    assert config["mode"] == "runner" and config["vocabulary"] == "exact"
    assert config["driver"] == "fake_codebase:predict"
    # A second run reuses every cached prediction and never starts the worker.
    (stand_in_repo / "calls.jsonl").unlink()
    again = run_demo("langhops", args)
    assert again.predicted == 0 and not (stand_in_repo / "calls.jsonl").exists()


def test_runner_collects_a_detectron2_json_written_by_a_stand_in_script(run_demo, stand_in_repo, external_fixture):
    """The stand-in reads each image's ground truth (the path is derived from the image path, as the external
    codebase's own data loader would) and writes it as sem_seg_predictions.json: the merged import must score 100."""
    from partbench.adapters.external import methods

    script = external_fixture("stand_in_worker.py", stand_in_repo / "stand_in_worker.py")
    args = {"repo": str(stand_in_repo), "python": sys.executable, "script": str(script)}
    with pytest.warns(methods.MergedSamplesWarning):
        outcome = run_demo("partcatseg", args)
    assert outcome.results["metrics"]["h_iou"] == pytest.approx(100.0)
    assert outcome.results["method_config"]["script"] == str(script.absolute())


def test_runner_reports_a_worker_that_dies_and_a_codebase_error(run_demo, stand_in_repo):
    dying = stand_in_repo / "dying.py"
    dying.write_text("import sys\nprint('loading...')\nsys.exit(3)\n")
    with pytest.raises(PartbenchError, match="exited with status 3"):
        run_demo("partcatseg", {"repo": str(stand_in_repo), "python": sys.executable, "script": str(dying)})
    (stand_in_repo / "broken.py").write_text("def predict(*a, **k):\n    raise RuntimeError('CUDA out of memory')\n")
    with pytest.raises(PartbenchError, match="CUDA out of memory"):
        run_demo("langhops", {"repo": str(stand_in_repo), "python": sys.executable, "driver": "broken:predict"},
                 output_root=Path("runs2"))


def test_worker_script_is_stdlib_numpy_pil_only_and_python38_syntax():
    """The worker runs in the external environment: no partbench import, no 3.9+ syntax (checked with ast)."""
    import ast

    from partbench.adapters.external.process import WORKER_SCRIPT

    source = WORKER_SCRIPT.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    top_level = {a.name.split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                 for a in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert "numpy" in top_level and top_level - {"numpy"} <= set(sys.stdlib_module_names)
    assert "WORKER_PROTOCOL = 1" in source
