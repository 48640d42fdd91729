"""A task kind added by a plugin module alone (tests/plugins/toy_task.py) goes through `run`, `score`,
`--shard`/`merge` and resume like the built-in kinds: the loop, the registry and the CLI need no edit for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
TARGETS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]


@pytest.fixture
def toy(tmp_path):
    data = tmp_path / "data"
    (data / "ToyCount").mkdir(parents=True)
    (data / "ToyCount" / "items.json").write_text(
        json.dumps([{"id": f"item{i:02d}", "target": t} for i, t in enumerate(TARGETS)]))
    suite = "toy-count"  # registered by the plugin beside its YAML

    def partbench(*args: str, fail_after: int | None = None) -> subprocess.CompletedProcess:
        env = os.environ | {"PARTBENCH_PLUGINS": "toy_task", "PYTHONPATH": str(PLUGINS), "COLUMNS": "200"}
        env.pop("TOY_FAIL_AFTER", None)
        if fail_after is not None:
            env["TOY_FAIL_AFTER"] = str(fail_after)
        return subprocess.run([sys.executable, "-m", "partbench", *args, "--data-root", str(data)], env=env,
                              capture_output=True, text=True, cwd=tmp_path)

    return partbench, suite, tmp_path


def _results(path: Path) -> dict:
    doc = json.loads(path.read_text())
    doc.pop("provenance")
    return doc


def test_run_resume_shards_and_score_of_a_plugin_task_kind(toy):
    partbench, suite, tmp = toy
    whole = partbench("run", "-m", "toy-guess", "-s", suite, "-a", "offset=1", "-o", "whole",
                      "--batch-size", "2")
    assert whole.returncode == 0, whole.stderr
    (run_dir,) = (tmp / "whole" / "toy-count").iterdir()
    results = _results(run_dir / "results.json")
    assert results["task"] == "counting" and results["convention"] == "exact-count"
    assert results["metrics"] == {"exact": 0.0, "mae": 1.0} and results["n_samples"] == len(TARGETS)
    assert sorted(p.name for p in (run_dir / "predictions").iterdir()) == [f"item{i:02d}.json"
                                                                            for i in range(len(TARGETS))]

    # Killed after 4 answers, then resumed: only the rest is predicted, and the results are the same.
    killed = partbench("run", "-m", "toy-guess", "-s", suite, "-a", "offset=1", "-o", "resumed",
                       "--batch-size", "2", fail_after=4)
    assert killed.returncode != 0
    resumed = partbench("run", "-m", "toy-guess", "-s", suite, "-a", "offset=1", "-o", "resumed",
                        "--batch-size", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"predicted {len(TARGETS) - 4}, reused 4" in resumed.stderr
    (resumed_dir,) = (tmp / "resumed" / "toy-count").iterdir()
    assert _results(resumed_dir / "results.json") == results

    # Two independent shards merged give the same results too.
    for k in range(2):
        shard = partbench("run", "-m", "toy-guess", "-s", suite, "-a", "offset=1", "-o", "sharded",
                          "--batch-size", "2", "--shard", f"{k}/2")
        assert shard.returncode == 0, shard.stderr
    (sharded_dir,) = (tmp / "sharded" / "toy-count").iterdir()
    merged = subprocess.run([sys.executable, "-m", "partbench", "merge", str(sharded_dir)], capture_output=True,
                            text=True, env=os.environ | {"PARTBENCH_PLUGINS": "toy_task", "PYTHONPATH": str(PLUGINS)})
    assert merged.returncode == 0, merged.stderr
    assert _results(sharded_dir / "results.json") == results

    # `score` reads answers made elsewhere through the same loop and evaluator.
    answers = tmp / "answers"
    answers.mkdir()
    for i, t in enumerate(TARGETS):
        (answers / f"item{i:02d}.json").write_text(json.dumps({"answer": t + 1}))
    scored = partbench("score", "-s", suite, "-p", str(answers), "-o", str(tmp / "scored.json"))
    assert scored.returncode == 0, scored.stderr
    assert _results(tmp / "scored.json")["metrics"] == results["metrics"]


def test_a_name_serves_several_kinds_and_declared_arguments_are_checked(toy):
    partbench, suite, tmp = toy
    oracle = partbench("run", "-m", "oracle", "-s", suite, "-o", "runs")
    assert oracle.returncode == 0, oracle.stderr
    assert _results(tmp / "runs/toy-count/oracle/results.json")["metrics"]["exact"] == 100.0

    out_of_range = partbench("run", "-m", "toy-guess", "-s", suite, "-a", "offset=9", "-o", "runs")
    assert out_of_range.returncode == 2 and "offset must lie in [-5, 5]" in out_of_range.stderr
    typo = partbench("run", "-m", "toy-guess", "-s", suite, "-a", "ofset=1", "-o", "runs")
    assert typo.returncode == 2 and "Did you mean 'offset'" in typo.stderr
    wrong_kind = partbench("run", "-m", "spatial-prior", "-s", suite, "-o", "runs")
    assert wrong_kind.returncode == 2 and "cannot run on suite 'toy-count'" in wrong_kind.stderr
