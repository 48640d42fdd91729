"""Part editing end to end on the generated demo-edit suite: the identity ceiling/floor, the oracle, edits given as
an image folder (with known background noise, scored exactly), the sample listing, caching, tables and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import invoke
from helpers.generated_suites import demo_derived_root, run_results
from PIL import Image


@pytest.fixture(scope="module")
def edit_root(tmp_path_factory) -> Path:
    from partbench.data.demo_edit import generate_demo_edit

    return demo_derived_root(tmp_path_factory.mktemp("edit-data"), generate_demo_edit, n_images=6)


def _run(root: Path, method: str, *args) -> dict:
    return run_results(root, "demo-edit", method, *args, bootstrap=50)


def _samples(root: Path) -> list[dict]:
    r = invoke("suites", "demo-edit", "--samples", "--json", "--data-root", root)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_generated_suite_lists_its_samples_and_is_deterministic(edit_root):
    from partbench.data.demo_edit import generate_demo_edit

    samples = _samples(edit_root)
    assert len(samples) >= 4
    for s in samples:
        assert {"id", "image", "mask", "source_prompt", "edit_prompt", "expected"} <= set(s)
        assert Path(s["image"]).is_file() and Path(s["mask"]).is_file()
        colour = s["edit_prompt"].split(" with a ")[1].split()[0]
        assert s["instructions"][0] == f"paint the {s['subject']}'s {s['part']} {colour}"
        # The expected edit is the source with exactly the mask's pixels filled with one colour.
        src, exp = np.asarray(Image.open(s["image"])), np.asarray(Image.open(s["expected"]))
        mask = np.asarray(Image.open(s["mask"])) > 0
        assert (src[~mask] == exp[~mask]).all() and len(np.unique(exp[mask], axis=0)) == 1
    jsonl = edit_root / "PartbenchDemoEdit" / "val.jsonl"
    before = jsonl.read_bytes()
    generate_demo_edit(edit_root, seed=0, n_images=6)
    assert jsonl.read_bytes() == before
    r = invoke("data", "verify", "demo-edit", "--data-root", edit_root)
    assert r.exit_code == 0 and "demo-edit: OK" in r.output, r.output


def test_identity_oracle_and_table(edit_root):
    identity = _run(edit_root, "identity")
    assert identity["task"] == "part-editing" and identity["convention"] == "region"
    assert identity["metrics"]["psnr_bg"] == 100.0 and identity["metrics"]["ssim_bg"] == 100.0  # SSIM ×100
    oracle = _run(edit_root, "oracle")
    assert oracle["meaningful"] is False
    assert oracle["metrics"]["edit_error_fg"] == 0.0 < identity["metrics"]["edit_error_fg"]
    assert oracle["metrics"]["psnr_bg"] == 100.0
    assert oracle["higher_is_better"]["edit_error_fg"] is False
    again = invoke("run", "-m", "identity", "-s", "demo-edit", "--data-root", edit_root, "--output", "runs",
                   "--bootstrap", "50")
    assert "predicted 0" in again.output  # cached
    table = invoke("table", "runs", "--format", "markdown")
    assert table.exit_code == 0 and "PSNR bg" in table.output and "identity" in table.output, table.output
    # A run's predictions folder scores to the same numbers through `partbench score`.
    r = invoke("score", "-s", "demo-edit", "-p", "runs/demo-edit/oracle/predictions", "--data-root", edit_root,
               "-o", "rescored.json", "--bootstrap", "0")
    assert r.exit_code == 0, r.output
    assert json.loads(Path("rescored.json").read_text())["metrics"] == pytest.approx(oracle["metrics"])


def test_image_folder_with_known_background_noise_scores_the_psnr_exactly(edit_root, tmp_path):
    folder = tmp_path / "edits"
    for s in _samples(edit_root):
        src = np.asarray(Image.open(s["image"])).astype(int)
        mask = np.asarray(Image.open(s["mask"])) > 0
        edited = np.where(src < 128, src + 4, src - 4)  # every background value moves by 4, never clipped
        edited[mask] = src[mask]  # the part is left as it was
        (folder / s["id"]).mkdir(parents=True)
        Image.fromarray(edited.astype(np.uint8)).save(folder / s["id"] / "0.png")
    results = _run(edit_root, "image-folder", "-a", f"path={folder}")
    assert results["metrics"]["psnr_bg"] == pytest.approx(20 * math.log10(255 / 4), abs=1e-9)
    rows = [json.loads(line) for line in next(Path("runs/demo-edit").glob("image-folder@*/samples.jsonl")).open()]
    assert all(r["mse_bg"] == 16 for r in rows)

    # An edit at another size is refused naming the file; a missing one is listed.
    first = sorted(folder.iterdir())[0]
    Image.new("RGB", (8, 8)).save(first / "0.png")
    r = invoke("run", "-m", "image-folder", "-s", "demo-edit", "--data-root", edit_root, "-a", f"path={folder}",
               "--output", "runs2")
    assert r.exit_code == 2 and "0.png is 8x8" in r.output, r.output
    (first / "0.png").unlink()
    r = invoke("run", "-m", "image-folder", "-s", "demo-edit", "--data-root", edit_root, "-a", f"path={folder}",
               "--output", "runs3")
    assert r.exit_code == 2 and f"({first.name})" in r.output and "<sample id>/0.png" in r.output, r.output


def test_bad_layout_lines_name_the_file(edit_root, tmp_path):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(edit_root / "PartbenchDemoEdit", root / "PartbenchDemoEdit")
    jsonl = root / "PartbenchDemoEdit" / "val.jsonl"
    lines = jsonl.read_text().splitlines()
    record = json.loads(lines[1])
    del record["prompt_changed"]
    jsonl.write_text("\n".join([lines[0], json.dumps(record)]) + "\n")
    r = invoke("run", "-m", "identity", "-s", "demo-edit", "--data-root", root, "--allow-incomplete-data")
    assert r.exit_code == 2 and "val.jsonl:2: 'prompt_changed' must be a non-empty string" in r.output, r.output


def test_clip_scores_with_tiny_models_and_missing_weights(edit_root, tmp_path, monkeypatch):
    pytest.importorskip("open_clip")
    monkeypatch.setenv("PARTBENCH_CACHE", str(tmp_path / "cache"))
    tiny = ("-a", "alpha_clip=tiny", "-a", "masked_clip=tiny")
    r = invoke("run", "-m", "identity", "-s", "demo-edit", "--data-root", edit_root, "--output", "runs",
               "--bootstrap", "20", *tiny)
    assert r.exit_code == 0, r.output
    results = json.loads(Path("runs/demo-edit/identity/results.json").read_text())  # scoring options: same run
    metrics = results["metrics"]
    assert metrics["alpha_clip_bg"] == pytest.approx(100.0, abs=1e-6)  # the background compared with itself
    assert 0 <= metrics["alpha_clip_fg"] <= 100 and 0 <= metrics["masked_clip_fg"] <= 100
    assert "random tiny model" in results["metric_notes"]["alpha_clip"]
    r = invoke("run", "-m", "identity", "-s", "demo-edit", "--data-root", edit_root, "--output", "runs",
               "-a", "alpha_clip=on", "-a", "masked_clip=off")
    assert r.exit_code == 2 and "clip_l14_grit1m_fultune_8xe.pth" in r.output, r.output
