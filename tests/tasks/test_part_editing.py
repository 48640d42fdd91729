"""Part editing end to end on the generated demo-edit suite: the identity ceiling/floor, the oracle, edits given as
an image folder (with known background noise, scored exactly), the sample listing, caching, tables and bad input."""

from __future__ import annotations

import io
import json
import math
import os
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


@pytest.mark.parametrize("bad", [("identity", "-a", "colr=red"), ("instruct-pix2pix", "-a", "stepz=3"),
                                 ("instruct-pix2pix", "-a", "steps=0")],
                         ids=["no-args-taken", "misspelt-key", "out-of-range"])
def test_a_bad_method_argument_is_refused_first_and_alone(edit_root, bad):
    """The argument error is all a user sees: no CLIP note (weights are absent in the isolated cache), no traceback,
    no run folder."""
    method, *args = bad
    r = invoke("run", "-m", method, "-s", "demo-edit", "--data-root", edit_root, "--output", "runs", *args)
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), r.output
    assert "--method-arg" in r.output and "CLIP" not in r.output and "not computed" not in r.output, r.output
    assert not Path("runs").exists()


def test_a_run_still_notes_each_clip_score_left_out_once(edit_root):
    r = invoke("run", "-m", "identity", "-s", "demo-edit", "--data-root", edit_root, "--output", "runs",
               "--bootstrap", "0", "-a", "masked_clip=off")
    assert r.exit_code == 0, r.output
    assert r.output.count("not computed (alpha_clip=auto)") == 1 and "masked_clip=auto" not in r.output, r.output


def test_methods_refuse_a_suite_without_their_files_before_writing(edit_root):
    """partedit-outputs needs PartEdit's shipped outputs (demo-edit has none): refused before any run folder."""
    r = invoke("run", "-m", "partedit-outputs", "-s", "demo-edit", "--data-root", edit_root, "--output", "runs")
    assert r.exit_code == 2 and "ships no PartEdit output" in r.output, r.output
    assert "not computed" not in r.output
    assert not Path("runs").exists()


def test_the_oracle_names_the_samples_whose_intended_edit_is_unknown(edit_root, tmp_path):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(edit_root / "PartbenchDemoEdit", root / "PartbenchDemoEdit")
    jsonl = root / "PartbenchDemoEdit" / "val.jsonl"
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    records[1]["expected"] = None  # a record that names no expected image
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    r = invoke("run", "-m", "oracle", "-s", "demo-edit", "--data-root", root, "--output", "runs",
               "--allow-incomplete-data")
    assert r.exit_code == 2, r.output
    assert (f"does not know the intended edit for 1 of {len(records)} samples ({records[1]['sample_id']})"
            in r.output), r.output
    assert not Path("runs").exists()


def test_a_restored_mask_is_reused_and_not_called_changed(edit_root, tmp_path, monkeypatch):
    """Whether a sample is named as changed (and not reused) follows its files' content, as the reuse itself does:
    a run interrupted after predicting from the restored mask leaves inputs.json behind, yet the next run reuses
    that prediction, so it must not claim otherwise."""
    import shutil

    from partbench.tasks.edit_evaluator import EditEvaluator

    root = tmp_path / "root"
    shutil.copytree(edit_root / "PartbenchDemoEdit", root / "PartbenchDemoEdit")
    mask = sorted((root / "PartbenchDemoEdit" / "masks" / "val").glob("*.png"))[0]
    original = mask.read_bytes()
    args = ("run", "-m", "identity", "-s", "demo-edit", "--data-root", root, "--output", "runs", "--bootstrap", "0",
            "-a", "alpha_clip=off", "-a", "masked_clip=off")

    def rewrite(data: bytes, tick: int) -> None:  # later than any earlier write, as a person's edit is
        mtime = mask.stat().st_mtime_ns
        mask.write_bytes(data)
        os.utime(mask, ns=(mtime + tick * 10**9, mtime + tick * 10**9))

    assert invoke(*args).exit_code == 0
    pixels = np.asarray(Image.open(mask)).copy()
    pixels[0, 0] ^= 255
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    rewrite(buf.getvalue(), 1)
    changed = invoke(*args)
    assert "predicted 1," in changed.output and mask.stem in changed.output and "not reused" in changed.output
    rewrite(original, 2)  # restored: the same content as the first run's

    def interrupted(self, batch):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:  # the restored sample is predicted again, then the run stops
        m.setattr(EditEvaluator, "process", interrupted)
        assert invoke(*args).exit_code != 0
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "predicted 0," in again.output and "not reused" not in again.output, again.output


def test_a_missing_mask_is_refused_named_and_allowed_on_request(edit_root, tmp_path):
    """As for a segmentation suite's missing annotation: refused up front, naming the file, with nothing written;
    with --allow-incomplete-data the sample is left out and counted, and results.json says the data is incomplete."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(edit_root, root)
    masks = sorted((root / "PartbenchDemoEdit" / "masks" / "val").glob("*.png"))
    masks[1].unlink()
    args = ("run", "-m", "identity", "-s", "demo-edit", "--data-root", root, "--output", "runs", "--bootstrap", "0",
            "-a", "alpha_clip=off", "-a", "masked_clip=off")
    refused = invoke(*args)
    assert refused.exit_code == 2 and f"{masks[1]}: missing" in refused.output, refused.output
    assert "--allow-incomplete-data" in refused.output and "Traceback" not in refused.output
    assert not Path("runs").exists()
    allowed = invoke(*args, "--allow-incomplete-data")
    assert allowed.exit_code == 0, allowed.output
    (run_dir,) = Path("runs/demo-edit").glob("identity@*")  # its own folder, as any run on incomplete data
    results = json.loads((run_dir / "results.json").read_text())
    assert results["data"]["complete"] is False and any(masks[1].name in p for p in results["data"]["problems"])
    assert results["n_samples"] == len(masks) - 1 and results["n_skipped"]["missing_files"] == 1
    assert not (run_dir / "predictions" / masks[1].name).exists()
    assert results["metrics"]["psnr_bg"] == 100.0  # the others are scored as on complete data
    scored = invoke("score", "-s", "demo-edit", "-p", run_dir / "predictions", "--data-root", root, "--bootstrap",
                    "0", "-o", "scored.json", "--allow-incomplete-data")
    assert scored.exit_code == 0, scored.output
    assert json.loads(Path("scored.json").read_text())["n_skipped"]["missing_files"] == 1


def test_a_sample_that_cannot_be_read_leaves_no_run_folder(edit_root, tmp_path):
    """The run fails on its first sample, before computing anything: the folder it made goes with it."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(edit_root, root)
    mask = sorted((root / "PartbenchDemoEdit" / "masks" / "val").glob("*.png"))[0]
    mask.write_bytes(b"not a png")
    r = invoke("run", "-m", "identity", "-s", "demo-edit", "--data-root", root, "--output", "runs", "--bootstrap",
               "0", "-a", "alpha_clip=off", "-a", "masked_clip=off")
    assert r.exit_code == 2 and f"{mask}: cannot read mask" in r.output, r.output
    assert not Path("runs").exists()
