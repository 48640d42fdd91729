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
    (["--mixed-precision", "bf61"], "--mixed-precision must be one of no, fp16, bf16, got 'bf61'"),
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


def test_an_incomplete_train_split_is_refused_unless_told_and_then_recorded(tmp_path, demo_root):
    """A train split with a file missing would train a checkpoint on part of the data with nothing saying so."""
    import json
    import shutil

    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    (root / "PartbenchDemo" / "annotations_detectron2_part" / "train" / "demo_train_0005.png").unlink()
    out = tmp_path / "train"
    args = ("train", "partconcepts", "--suite", "demo", "--output", out, "--data-root", root, "--steps", "1",
            "--num-workers", "0", "--latent-cache", "none", "--device", "cpu")
    refused = invoke(*args)
    flat = " ".join(refused.output.split())
    assert refused.exit_code == 2 and "Traceback" not in refused.output and not out.exists()
    assert "PartConcepts learns from the 'train' split of 'demo', which is incomplete" in flat
    assert "demo_train_0005" in flat and "--allow-incomplete-data" in flat

    trained = invoke(*args, "--allow-incomplete-data")
    assert trained.exit_code == 0, trained.output
    data = json.loads((out / "checkpoint" / "config.json").read_text())["training"]["data"]
    assert data["complete"] is False and any("demo_train_0005" in p for p in data["problems"])


def test_klein_base_model_errors_name_the_train_option(tmp_path, monkeypatch, demo_root):
    """The base model is a `train` option, not a --method-arg; an unknown size name lists the known ones."""
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    out = tmp_path / "train"
    base = ("train", "partconcepts", "--suite", "demo", "--preset", "klein", "--output", out, "--data-root",
            demo_root)
    unknown = invoke(*base, "--base-model", "8B")
    flat = " ".join(unknown.output.split())
    assert unknown.exit_code == 2 and "--base-model '8B' is not one of 9B, 4B, base-9B, base-4B" in flat
    missing = invoke(*base, "--base-model", "4B")
    flat = " ".join(missing.output.split())
    assert missing.exit_code == 2 and "Traceback" not in missing.output and not out.exists()
    assert "black-forest-labs/FLUX.2-klein-4B" in flat and "--base-model /path/to/model" in flat
    assert "--method-arg" not in flat


def test_a_generated_suite_is_made_on_first_use(tmp_path):
    """As `partbench run` does: the README's first training command works on a fresh machine."""
    root, out = tmp_path / "data", tmp_path / "train"
    r = invoke("train", "partconcepts", "--suite", "demo", "--output", out, "--data-root", root, "--steps", "1",
               "--num-workers", "0", "--latent-cache", "none", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "first use, generating its data" in " ".join(r.output.split())
    assert (root / "PartbenchDemo" / "manifest.json").is_file() and (out / "checkpoint" / "config.json").is_file()
