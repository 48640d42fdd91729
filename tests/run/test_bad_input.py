"""Bad input never crashes or slips through: malformed RLE, JPEG bytes under a .png name, files partbench does not
read, predictions that match nothing, and the temporary files a killed run leaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import invoke
from helpers.exports import detectron2_entries, oracle_maps


def _score(demo_root: Path, predictions: Path, *extra):
    return invoke("score", "-s", "demo", "-p", predictions, "--data-root", demo_root, "--bootstrap", "0", *extra)


def test_uncompressed_rle_is_accepted(demo_root, tmp_path):
    path = tmp_path / "list-counts.json"
    path.write_text(json.dumps(detectron2_entries(demo_root, uncompressed=True)))
    result = _score(demo_root, path, "-o", tmp_path / "out.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out.json").read_text())["metrics"]["h_iou"] == pytest.approx(100.0)


@pytest.mark.parametrize("damage,message", [
    (lambda seg: seg.update(counts="garbage!!"), "malformed"),
    (lambda seg: seg.update(counts=""), "malformed"),
    (lambda seg: seg.pop("size"), "'size'"),
], ids=["garbage-counts", "empty-counts", "no-size"])
def test_malformed_rle_is_refused_naming_the_entry(demo_root, tmp_path, damage, message):
    entries = detectron2_entries(demo_root, uncompressed=False)
    damage(entries[0]["segmentation"])
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(entries))
    result = _score(demo_root, path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert message in result.output and "entry 0" in result.output and str(path) in result.output


def test_jpeg_bytes_under_a_png_name_are_refused(demo_root, tmp_path):
    oracle_maps(demo_root, tmp_path / "jpegs", fmt="JPEG")
    result = _score(demo_root, tmp_path / "jpegs")
    assert result.exit_code == 2 and "a JPEG file, not a PNG" in result.output


def test_files_partbench_does_not_read_are_named_as_the_likely_cause(demo_root, tmp_path):
    folder = tmp_path / "upper"
    oracle_maps(demo_root, folder, suffix=".PNG")
    (folder / "logits.npy").write_bytes(b"\x93NUMPY")
    result = _score(demo_root, folder)
    assert result.exit_code == 2 and "have no prediction" in result.output
    assert f"{len(list(folder.glob('*.PNG')))} .PNG" in result.output and "1 .npy" in result.output


def test_unmatched_and_missing_predictions_are_counted(demo_root, tmp_path):
    folder = tmp_path / "maps"
    ids = oracle_maps(demo_root, folder)
    (folder / f"{ids[0]}.png").rename(folder / "not-a-sample.png")
    refused = _score(demo_root, folder)
    assert refused.exit_code == 2 and "1 of" in refused.output
    allowed = _score(demo_root, folder, "--allow-missing")
    assert allowed.exit_code == 0, allowed.output
    assert f"1 of {len(ids)} samples have no prediction" in allowed.output
    assert "1 predictions in" in allowed.output and "not-a-sample.png" in allowed.output


def test_a_killed_runs_temporary_files_are_gone_after_the_next_run(demo_root):
    args = ("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0", "--limit", "3")
    assert invoke(*args).exit_code == 0
    (run_dir,) = Path("runs/demo").iterdir()
    prediction = next((run_dir / "predictions").glob("*.png"))
    leftovers = [run_dir / ".samples.jsonl.k1ll3d.tmp", run_dir / ".results.json.k1ll3d.tmp",
                 prediction.with_name(f".{prediction.name}.k1ll3d.tmp")]
    for path in leftovers:
        path.write_text("half")
    assert invoke(*args).exit_code == 0
    assert [p for p in leftovers if p.exists()] == []
