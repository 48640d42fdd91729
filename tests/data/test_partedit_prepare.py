"""PartEdit-Bench from fixtures built in the released parquet schema: `data prepare partedit` writes the reader's
layout (masks binarised whatever their range, resized to their image where they differ; the revision and token_cls
recorded), both suites read it, and `partedit-outputs` scores PartEdit's shipped edits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import invoke
from helpers.partedit_release import COMMIT, build_release
from PIL import Image

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("partedit-download")
    rows = build_release(folder)
    root = tmp_path_factory.mktemp("partedit-root")
    r = invoke("data", "prepare", "partedit", "--source", folder, "--data-root", root)
    assert r.exit_code == 0, r.output
    assert "synth: 3 samples, real: 2 samples" in r.output and "real_000: gt_mask 64x48 resized" in r.output
    return root, rows


def test_prepare_writes_the_reader_layout(release):
    root, rows = release
    out = root / "PartEdit-Bench"
    info = json.loads((out / "release.json").read_text())
    assert info["revision"] == COMMIT and info["token_cls"] == {"synth": True, "real": True}
    assert info["rows"] == {"synth": 3, "real": 2}
    for row in rows:
        sid = f"{row.split}_{row.id:03d}"
        assert (np.asarray(Image.open(out / "images" / row.split / f"{sid}.png")) == row.source).all()
        assert ((np.asarray(Image.open(out / "masks" / row.split / f"{sid}.png")) > 0) == row.mask).all()
        assert (np.asarray(Image.open(out / "partedit" / row.split / f"{sid}.png")) == row.output).all()
    record = json.loads((out / "synth.jsonl").read_text().splitlines()[1])
    assert record["sample_id"] == "synth_001" and record["token_cls"] == "quadruped_head"
    assert record["prompt_changed"] == "a closeup of a dog with a robotic head" and record["seed"] == 1001
    listed = json.loads(invoke("suites", "partedit-real", "--samples", "--json", "--data-root", root).output)
    assert [s["id"] for s in listed] == ["real_000", "real_001"]
    assert listed[0]["instructions"] == ["make its head robotic", "give it a robotic head",
                                         "turn the head into a robot's"]


def test_partedit_outputs_are_scored(release, tmp_path):
    root, rows = release
    common = ("--data-root", root, "--output", "runs", "--bootstrap", "20")
    r = invoke("run", "-m", "partedit-outputs", "-s", "partedit-synth", *common)
    assert r.exit_code == 2 and "3 samples found, 60 expected" in r.output  # the card's count is checked
    r = invoke("run", "-m", "partedit-outputs", "-s", "partedit-synth", "--allow-incomplete-data", *common)
    assert r.exit_code == 0, r.output
    # Scored on incomplete data: a run folder of its own (`partedit-outputs@<hash>`), never the complete run's.
    (synth_dir,) = Path("runs/partedit-synth").glob("partedit-outputs@*")
    synth = json.loads((synth_dir / "results.json").read_text())
    # The fixture's outputs change only the part: the background is kept exactly.
    assert synth["metrics"]["psnr_bg"] == 100.0 and synth["metrics"]["ssim_bg"] < 100
    assert synth["release"]["revision"] == COMMIT and synth["data"]["complete"] is False
    r = invoke("run", "-m", "partedit-outputs", "-s", "partedit-real", "--allow-incomplete-data", *common)
    assert r.exit_code == 0, r.output
    (real_dir,) = Path("runs/partedit-real").glob("partedit-outputs@*")
    lines = [json.loads(x) for x in (real_dir / "samples.jsonl").open()]
    # real_000's output is stored at 48x40: resized back to 32x24 (Lanczos) it is no longer exact.
    assert lines[0]["psnr_bg"] < 100 and lines[1]["psnr_bg"] == 100
    r = invoke("run", "-m", "oracle", "-s", "partedit-real", "--allow-incomplete-data", *common)
    assert r.exit_code == 2 and "does not know the intended edit" in r.output, r.output
    assert not list(Path("runs/partedit-real").glob("oracle*"))  # refused before its run folder was made


def test_release_problems_are_named(tmp_path):
    folder = tmp_path / "download"
    build_release(folder, n_synth=1, n_real=0, drop_column="gt_mask")
    r = invoke("data", "prepare", "partedit", "--source", folder, "--data-root", tmp_path / "root")
    assert r.exit_code == 2 and "synth-00000-of-00001.parquet: missing column(s) gt_mask" in r.output, r.output
    assert not (tmp_path / "root" / "PartEdit-Bench").exists()
    old = tmp_path / "old"
    build_release(old, n_synth=1, n_real=1, token_cls=False)
    r = invoke("data", "prepare", "partedit", "--source", old, "--data-root", tmp_path / "root2")
    assert r.exit_code == 0 and "token_cls is missing" in r.output, r.output
