"""partbench's scores equal a plain re-statement of the official OV-PARTS evaluator on the same predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from partbench.run import RunRequest, run
from partbench.store.atomic import read_json
from partbench.suites import load_suite
from partbench.testing.ovparts_reference import evaluate


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


def test_reference_evaluator_imports_no_partbench_code():
    """The reference stays independent of what it checks: numpy, PIL and the standard library only."""
    import ast

    import partbench.testing.ovparts_reference as reference

    tree = ast.parse(Path(reference.__file__).read_text(encoding="utf-8"))
    imported = {(a.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
                for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
    assert imported <= {"__future__", "pathlib", "numpy", "PIL"}, imported
