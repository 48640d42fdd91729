"""partbench's scores equal a plain re-statement of the official OV-PARTS evaluator on the same predictions."""

from __future__ import annotations

import pytest

from benchmarks.official_style_evaluator import evaluate
from partbench.paths import read_json
from partbench.run import RunRequest, run
from partbench.suites import load_suite


@pytest.mark.parametrize("method", ["random", "spatial-prior"])
def test_run_matches_official_style_evaluator(demo_root, tmp_path, method):
    outcome = run(RunRequest(method=method, suite="demo", data_root=demo_root, output_root=tmp_path / "runs",
                             bootstrap=0))
    suite = load_suite("demo")
    official = evaluate(demo_root / "PartbenchDemo", "val", outcome.run_dir / "predictions", list(suite.classes),
                        list(suite.object_classes), set(suite.unseen_objects))
    ours = read_json(outcome.run_dir / "results.json")["metrics"]
    for key in ("seen_miou", "unseen_miou", "miou", "h_iou"):
        assert ours[key] == pytest.approx(official[key], abs=1e-9), key
