"""Nothing computed from older or partial data is reused or reported as if it were current: a prediction is made
again when a file its sample is read from changes (and the run names those samples), results carry the data's
fingerprint so tables flag runs scored on other data, and an incomplete data root is refused unless asked."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import invoke
from PIL import Image

from partbench.store import inputs as inputs_module
from partbench.store.inputs import FileHashes

PART = "PartbenchDemo/annotations_detectron2_part/val"


@pytest.fixture
def data(demo_root, tmp_path) -> Path:
    """A private copy of the demo data root, free to edit."""
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    return root


def _edit_part_map(root: Path, image_id: str) -> None:
    """Relabel every labelled pixel of an annotation in place: same file name, same size, other ground truth."""
    path = root / PART / f"{image_id}.png"
    before = path.stat()
    labels = np.asarray(Image.open(path)).copy()
    labelled = labels != 255
    labels[labelled] = np.roll(labels[labelled], 7)
    Image.fromarray(labels).save(path)
    # An edit made later than the original write, as a person's edit is (files written in one test can share a tick).
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))


def _run(root: Path, method: str = "oracle", *more: str):
    result = invoke("run", "-m", method, "-s", "demo", "--data-root", root, "--bootstrap", "0", *more)
    return result, Path("runs/demo") / method


def _samples_of(run_dir: Path, image_id: str) -> list[str]:
    return [line["id"] for line in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines())
            if line["id"].startswith(f"{image_id}__")]


def test_an_edited_sample_is_predicted_again_and_named(data):
    first, run_dir = _run(data)
    assert first.exit_code == 0, first.output
    changed = _samples_of(run_dir, "demo_val_0001") + _samples_of(run_dir, "demo_val_0004")
    assert changed
    _edit_part_map(data, "demo_val_0001")
    _edit_part_map(data, "demo_val_0004")
    again, _ = _run(data)
    assert again.exit_code == 0, again.output
    assert f"predicted {len(changed)}," in again.output  # only the changed samples
    assert f"{len(changed)} sample(s) read from files that changed" in again.output
    assert all(sample in again.output for sample in changed)
    # The oracle predicts the current ground truth: a reused stale prediction would score below 100.
    results = json.loads((run_dir / "results.json").read_text())
    assert results["metrics"]["h_iou"] == pytest.approx(100)
    third, _ = _run(data)
    assert "predicted 0," in third.output and "changed" not in third.output


def test_results_carry_the_data_fingerprint_and_tables_flag_other_data(data):
    assert _run(data, "random")[0].exit_code == 0
    assert _run(data, "spatial-prior")[0].exit_code == 0
    _edit_part_map(data, "demo_val_0002")
    assert _run(data, "oracle")[0].exit_code == 0
    prints = {m: json.loads((Path("runs/demo") / m / "results.json").read_text())["data"]["fingerprint"]
              for m in ("random", "spatial-prior", "oracle")}
    assert prints["random"] == prints["spatial-prior"] != prints["oracle"]
    table = invoke("table", "runs", "--suite", "demo", "--no-published", "--format", "markdown")
    assert table.exit_code == 0, table.output
    flagged = [line for line in table.output.splitlines() if line.startswith("|") and "(other data)" in line]
    assert len(flagged) == 1 and "oracle" in flagged[0]
    # `score` reads the current ground truth and records the fingerprint of what it read.
    scored = invoke("score", "-s", "demo", "-p", "runs/demo/random/predictions", "--data-root", data,
                    "--bootstrap", "0", "--name", "again")
    assert scored.exit_code == 0, scored.output
    doc = json.loads(Path("runs/demo/imported-again/results.json").read_text())
    assert doc["data"]["fingerprint"] == prints["oracle"]


def test_file_hashes_are_reused_until_size_or_mtime_changes(data, monkeypatch):
    hashed: list[Path] = []
    real = inputs_module._sha256
    monkeypatch.setattr(inputs_module, "_sha256", lambda p: hashed.append(p) or real(p))
    files = sorted((data / PART).glob("*.png"))
    hashes = FileHashes(data)
    first = hashes.digests(files)
    assert hashed == files  # nothing known yet: every file is read
    hashes.save()
    hashed.clear()
    assert FileHashes(data).digests(files) == first and hashed == []  # read back from the state file
    _edit_part_map(data, files[0].stem)
    again = FileHashes(data).digests(files)
    assert hashed == [files[0]] and again[f"{PART}/{files[0].name}"] != first[f"{PART}/{files[0].name}"]
    # An edit that keeps size and mtime is only seen by hashing again (--rehash).
    stat = files[1].stat()
    files[1].write_bytes(files[0].read_bytes()[: stat.st_size].ljust(stat.st_size, b"\0"))
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert FileHashes(data).digests(files)[f"{PART}/{files[1].name}"] == first[f"{PART}/{files[1].name}"]
    assert FileHashes(data, rehash=True).digests(files)[f"{PART}/{files[1].name}"] != first[f"{PART}/{files[1].name}"]


def test_missing_annotation_is_refused_named_and_allowed_on_request(data):
    (data / PART / "demo_val_0003.png").unlink()
    verify = invoke("data", "verify", "demo", "--data-root", data)
    assert verify.exit_code == 1
    assert "demo_val_0003.png: missing" in verify.output and "9 images found, 10 expected" in verify.output
    refused, run_dir = _run(data)
    assert refused.exit_code == 2 and "demo_val_0003.png: missing" in refused.output
    assert "--allow-incomplete-data" in refused.output and not (run_dir / "results.json").exists()
    scored = invoke("score", "-s", "demo", "-p", data / PART, "--data-root", data, "--bootstrap", "0")
    assert scored.exit_code == 2 and "incomplete" in scored.output
    allowed, _ = _run(data, "oracle", "--allow-incomplete-data")
    assert allowed.exit_code == 0, allowed.output
    # Its own folder: a complete run of the same method keeps its results when the data is incomplete for a while.
    (incomplete,) = Path("runs/demo").glob("oracle@*")
    about = json.loads((incomplete / "results.json").read_text())["data"]
    assert about["complete"] is False and about["counts"]["images"] == 9
    table = invoke("table", "runs", "--suite", "demo", "--no-published", "--format", "markdown")
    assert "(smoke) (incomplete data)" in table.output and "--allow-incomplete-data" in table.output


def test_orphan_annotation_is_named(data):
    (data / "PartbenchDemo/images/val/demo_val_0005.jpg").unlink()
    verify = invoke("data", "verify", "demo", "--data-root", data)
    assert verify.exit_code == 1 and "images/val/demo_val_0005.jpg: missing (" in verify.output
    assert "9 images found, 10 expected" in verify.output


def test_shards_scored_on_different_data_are_not_merged(data):
    assert invoke("run", "-m", "random", "-s", "demo", "--data-root", data, "--shard", "0/2").exit_code == 0
    _edit_part_map(data, "demo_val_0007")
    assert invoke("run", "-m", "random", "-s", "demo", "--data-root", data, "--shard", "1/2").exit_code == 0
    merged = invoke("merge", "runs/demo/random")
    assert merged.exit_code == 2 and "other data" in merged.output
    assert not Path("runs/demo/random/results.json").exists()


def test_expected_counts_need_their_source(tmp_path):
    from partbench.errors import PartbenchError
    from partbench.suites.parse import parse_suite

    text = (Path(__file__).parents[2] / "partbench/suites/demo.yaml").read_text()
    bad = tmp_path / "counted.yaml"
    bad.write_text(text + "expected_counts:\n  val: {images: 10}\n")
    with pytest.raises(PartbenchError, match="counted.yaml: expected_counts must be a mapping with a 'source'"):
        parse_suite(bad)
    good = tmp_path / "good.yaml"
    good.write_text(text + "expected_counts:\n  source: the demo's manifest\n  val: {images: 10}\n")
    assert parse_suite(good).expected_counts == {"val": {"images": 10}}


def test_a_cached_rerun_reads_no_annotation_and_gives_the_same_results(data, monkeypatch):
    from partbench.data import ovparts

    first, run_dir = _run(data, "random")
    assert first.exit_code == 0, first.output
    before = json.loads((run_dir / "results.json").read_text())
    rows_before = (run_dir / "samples.jsonl").read_bytes()
    reads: list[Path] = []
    real = ovparts.read_label_png
    monkeypatch.setattr(ovparts, "read_label_png", lambda path: reads.append(Path(path)) or real(path))
    again, _ = _run(data, "random")
    assert again.exit_code == 0, again.output
    # Samples whose ground truth is empty have no row to reuse: only their images' maps are read again.
    unscorable = {p.stem for p in reads}
    assert len(unscorable) <= before["n_skipped"].get("empty_ground_truth", 0)
    after = json.loads((run_dir / "results.json").read_text())
    assert after["metrics"] == before["metrics"] and after["ci95"] == before["ci95"]
    assert (run_dir / "samples.jsonl").read_bytes() == rows_before
    # One edited annotation: only that image's maps are read again.
    reads.clear()
    _edit_part_map(data, "demo_val_0006")
    assert _run(data, "random")[0].exit_code == 0
    assert "demo_val_0006" in {p.stem for p in reads} and {p.stem for p in reads} <= unscorable | {"demo_val_0006"}
    # Another convention aggregates the same rows.
    reads.clear()
    other = invoke("run", "-m", "random", "-s", "demo", "--data-root", data, "--bootstrap", "0",
                   "--convention", "nanmean")
    assert other.exit_code == 0, other.output
    assert {p.stem for p in reads} <= unscorable


@pytest.mark.parametrize("given", ["absolute", "relative", "dot"])
def test_file_names_are_relative_to_the_data_root_however_it_is_given(tmp_path, monkeypatch, given):
    """`FileHashes.name` takes a string fast path; its answers are `relative_to`'s, else the resolved path."""
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "data" if given == "dot" else tmp_path)
    root = {"absolute": tmp_path / "data", "relative": Path("data"), "dot": Path(".")}[given]
    hashes = FileHashes(root)
    under = [root / "sub" / "a.png", root / "b.png", (root / "sub" / "c.png").absolute()]
    for path in under:
        assert hashes.name(path) == path.absolute().relative_to(root.absolute()).as_posix()
    assert hashes.name(root / "sub" / ".." / "b.png") == "b.png"
    outside = tmp_path / "elsewhere" / "e.png"
    spellings = [outside, Path(os.path.relpath(outside)), root / ".." / "elsewhere" / "e.png"]
    assert {hashes.name(path) for path in spellings} == {outside.resolve().as_posix()}


def test_an_input_file_that_cannot_be_read_is_refused_before_the_run_folder_is_made(data, monkeypatch):
    """Every input file is hashed before the run's folder exists: one that is there but cannot be read (here an
    object map, which the reader's index does not need) is named and nothing is written, --allow-incomplete-data or
    not: an unreadable file is an error, where a missing one leaves its image's samples out
    (tests/data/test_missing_files.py)."""
    unreadable = data / "PartbenchDemo/annotations_detectron2_obj/val/demo_val_0005.png"

    def denied(path, *args, **kwargs):
        if Path(path) == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(inputs_module, "open", denied, raising=False)  # as root, chmod would not stop a read
    result, _ = _run(data, "random", "--allow-incomplete-data")
    assert result.exit_code == 2, result.output
    assert f"{unreadable}: cannot read this input file (Permission denied)" in result.output, result.output
    assert not Path("runs").exists()


def test_a_run_that_fails_before_computing_anything_leaves_no_folder(data, monkeypatch):
    from partbench.errors import PartbenchError
    from partbench.tasks.segmentation import PartSegEvaluator

    first = data / PART / "demo_val_0000.png"
    original = first.read_bytes()
    first.write_bytes(b"not a png")  # the first sample cannot be loaded
    failed, _ = _run(data, "random")
    assert failed.exit_code == 2 and "demo_val_0000.png" in failed.output, failed.output
    assert not Path("runs").exists()
    # A failure after predictions were stored keeps them (the next run resumes from them), and a folder that was
    # there before the run is never removed.
    first.write_bytes(original)

    def fail(self, batch):
        raise PartbenchError("scoring failed")

    with monkeypatch.context() as m:
        m.setattr(PartSegEvaluator, "process", fail)
        after_predicting, run_dir = _run(data, "random")
    assert after_predicting.exit_code == 2 and "scoring failed" in after_predicting.output
    assert any((run_dir / "predictions").iterdir())
    for prediction in (run_dir / "predictions").iterdir():
        prediction.unlink()
    first.write_bytes(b"not a png")
    assert _run(data, "random")[0].exit_code == 2 and (run_dir / "config.json").is_file()


def test_an_import_scored_without_some_files_keeps_the_complete_ones_results(data, tmp_path, monkeypatch):
    """`score --allow-incomplete-data` on data with a file missing goes to a folder of its own, as `run` does: the
    complete import's results and rows stay, and the table does not take the incomplete one's data as its own."""
    monkeypatch.chdir(tmp_path)
    score = ("score", "-s", "demo", "-p", data / PART, "--data-root", data, "--bootstrap", "0", "--name", "gt")
    assert invoke(*score).exit_code == 0
    folder = Path("runs/demo/imported-gt")
    before = {name: (folder / name).read_bytes() for name in ("results.json", "samples.jsonl")}
    (data / "PartbenchDemo/annotations_detectron2_obj/val/demo_val_0003.png").unlink()
    allowed = invoke(*score, "--allow-incomplete-data")
    assert allowed.exit_code == 0, allowed.output
    assert {name: (folder / name).read_bytes() for name in before} == before
    apart = json.loads(Path("runs/demo/imported-gt@incomplete-data/results.json").read_text())
    assert apart["data"]["complete"] is False and apart["n_samples"] < json.loads(before["results.json"])["n_samples"]
    table = invoke("table", "--suite", "demo", "--format", "markdown", "--no-published")
    assert table.exit_code == 0 and "(incomplete data)" in table.output and "(other data)" not in table.output
