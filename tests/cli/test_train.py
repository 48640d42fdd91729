"""`partbench train partconcepts` refuses what it cannot train, before writing anything."""

from __future__ import annotations

import pytest
from helpers.cli import invoke


@pytest.mark.parametrize(("args", "says"), [
    (["--steps", "0"], "--steps must be a positive integer, got 0"),
    (["--steps", "-3"], "--steps must be a positive integer, got -3"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--grad-accum", "0"], "--grad-accum must be a positive integer"),
    (["--save-every", "-1"], "--save-every must be >= 0"),  # 0: only the final checkpoint
    (["--max-parts", "0"], "--max-parts must be a positive integer"),
    (["--lr", "0"], "--lr must be a positive number"),
    (["--lr", "-1e-4"], "--lr must be a positive number"),
    (["--time-limit", "0"], "--time-limit must be a positive number"),
    (["--bce-weight", "-1"], "--bce-weight must be >= 0"),
    (["--noise-range", "0.5", "0.2"], "--noise-range must be LO HI with 0 <= LO <= HI <= 1"),
    (["--resolution", "0"], "--resolution must be a positive integer"),
    (["--concept-lora-rank", "-1"], "--concept-lora-rank must be a positive integer"),
    (["--flow-weight", "-0.5"], "--flow-weight must be >= 0"),
])
def test_impossible_numbers_are_refused_before_anything_is_written(tmp_path, args, says):
    out = tmp_path / "train"
    r = invoke("train", "partconcepts", "--suite", "demo", "--output", out, "--data-root", tmp_path / "data", *args)
    assert r.exit_code != 0 and says in " ".join(r.output.split()), r.output
    assert "Traceback" not in r.output and not out.exists()


def test_a_suite_that_is_not_segmentation_is_refused(tmp_path):
    out = tmp_path / "train"
    r = invoke("train", "partconcepts", "--suite", "demo-edit", "--output", out, "--data-root", tmp_path / "data")
    flat = " ".join(r.output.split())
    assert r.exit_code != 0 and "Traceback" not in r.output and not out.exists()
    assert "segmentation suites" in flat and "'demo-edit' is a part-editing suite" in flat
    assert "partbench suites" in flat and "data generate" not in flat and "train.jsonl" not in flat
