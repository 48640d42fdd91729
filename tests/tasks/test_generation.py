"""Generation suites: the prompt list, the seed schedule, the run loop (cache, resume), image-folder, the CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.generation import clip_args, install_swatch
from typer.testing import CliRunner

from partbench.data.prompts import PASCAL_PART_NAMES, pascal_part_prompts, read_prompt_file
from partbench.data.prompts import main as prompts_main
from partbench.errors import PartbenchError
from partbench.run import RunRequest, run
from partbench.store.run_dir import read_cache_key
from partbench.suites import load_suite
from partbench.tasks.generation import image_seed


# -- the prompt suite --------------------------------------------------------------------------------------------------
def test_shipped_prompt_lists_equal_their_builders():
    assert prompts_main(["--check"]) == 0


def test_t2i_part_prompts_follow_the_protocol():
    records = pascal_part_prompts()
    assert len(records) == 500 and len({r["prompt"] for r in records}) == 500
    assert [r["prompt_id"] for r in records] == [f"p{i:04d}" for i in range(500)]
    raw = json.loads(PASCAL_PART_NAMES.read_text())
    part_bearing = {c for c, parts in raw.items() if parts}
    assert len(part_bearing) == 16 and {r["class_mat"] for r in records} == part_bearing  # every class drawn
    for r in records:
        assert r["part_phrase"] in raw[r["class_mat"]].values()
        assert not re.search(r"_\d+$", r["part_abbr"])  # numbered duplicates collapsed
        assert r["prompt"] == f"a photo of {'an' if r['class_name'][0] in 'aeiou' else 'a'} {r['class_name']}, " \
                              f"with {r['instruction']}"
        assert r["part_phrase"] in r["instruction"] and r["attribute"].split()[0] in r["instruction"]
    names = {r["class_mat"]: r["class_name"] for r in records}
    assert names["pottedplant"] == "potted plant" and names["tvmonitor"] == "tv monitor"
    assert {r["template_id"] for r in records} == {"stain", "paint", "pattern", "material"}
    assert pascal_part_prompts(seed=1) != records  # the seed matters


def test_demo_prompts_name_demo_parts():
    suite, demo = load_suite("demo-t2i"), load_suite("demo")
    from partbench.data.prompts import load_prompts

    items = load_prompts(suite)
    assert 4 <= len(items) <= 10
    for item in items:
        assert f"{item.meta['class_mat']}'s {item.part}" in demo.classes


@pytest.mark.parametrize("line, message", [
    ("{not json", r"bad\.jsonl:2: not valid JSON"),
    ('{"prompt_id": "../x", "prompt": "p"}', r"bad\.jsonl:2: prompt_id '\.\./x'"),
    ('{"prompt_id": "a", "prompt": "again"}', r"bad\.jsonl:2: duplicate prompt_id 'a'"),
    ('{"prompt_id": "b", "prompt": ""}', r"bad\.jsonl:2: 'prompt' must be"),
])
def test_bad_prompt_files_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt_id": "a", "prompt": "a photo"}\n' + line + "\n")
    with pytest.raises(PartbenchError, match=message):
        read_prompt_file(path)


def test_seed_schedule_is_a_fixed_function_of_seed_prompt_and_k():
    assert image_seed(0, "p0001", 0) == image_seed(0, "p0001", 0)
    seeds = {image_seed(s, p, k) for s in (0, 1) for p in ("p0000", "p0001") for k in range(4)}
    assert len(seeds) == 16 and all(0 <= s < 2**31 for s in seeds)
    # pinned: changing the schedule silently would change every image of every run
    import hashlib

    assert image_seed(3, "p0007", 2) == int.from_bytes(hashlib.sha256(b"3/p0007/2").digest()[:4], "big") & 0x7FFFFFFF


# -- the run loop ------------------------------------------------------------------------------------------------------
@pytest.fixture
def swatch(tmp_path, monkeypatch):
    install_swatch(tmp_path, monkeypatch)
    monkeypatch.setenv("SWATCH_LOG", str(tmp_path / "swatch.log"))
    return tmp_path / "swatch.log"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return clip_args(tmp_path_factory.mktemp("clip"))


def _request(tmp_path, clip, method="swatch", **kw) -> RunRequest:
    args = dict(clip) | kw.pop("args", {})
    kw.setdefault("output_root", tmp_path / "runs")
    return RunRequest(method=method, suite="demo-t2i", data_root=tmp_path, method_args=args,
                      batch_size=kw.pop("batch_size", 3), bootstrap=kw.pop("bootstrap", 200), **kw)


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_run_generation_end_to_end(tmp_path, swatch, clip):
    out = run(_request(tmp_path, clip))
    res = out.results
    assert out.predicted == 16 and out.cached == 0  # 8 prompts × 2 images (the suite's default)
    for key in ("schema_version", "suite", "suite_version", "split", "task", "method", "method_args", "run_name",
                "convention", "n_samples", "metrics", "ci95", "higher_is_better", "meaningful", "provenance"):
        assert key in res, key
    assert res["task"] == "generation" and res["n_samples"] == 8 and res["n_images"] == 16
    assert res["meaningful"] is False and res["higher_is_better"] == {"clip_score": True}
    assert res["images_per_prompt"] == 2 and "sha256" in res["seed_schedule"]
    assert res["clip_score"]["model"].endswith("partbench-tiny-clip.json")
    assert "clip_model" not in res["method_args"]  # scorer options are not part of the run's identity
    rows = _rows(out.run_dir)
    assert [(r["prompt_id"], r["k"]) for r in rows] == [(f"demo-{i:04d}", k) for i in range(8) for k in range(2)]
    for r in rows:
        assert r["seed"] == image_seed(0, r["prompt_id"], r["k"])
        assert r["clip_score"] == pytest.approx(100 * max(r["cos"], 0))
        assert read_cache_key(out.run_dir / r["file"]) == r["key"]
    cos = np.array([r["cos"] for r in rows])
    assert res["metrics"]["clip_score"] == pytest.approx(np.mean(100 * np.maximum(cos, 0)))
    assert res["clip_variants"]["raw-cos"] == pytest.approx(cos.mean())
    lo, hi = res["ci95"]["clip_score"]
    assert lo <= res["metrics"]["clip_score"] <= hi
    assert (out.run_dir / "config.json").is_file()
    assert len(swatch.read_text().splitlines()) == 16


def test_finished_run_generates_and_loads_nothing(tmp_path, swatch, clip, monkeypatch):
    first = run(_request(tmp_path, clip)).results
    import partbench.metrics.clip_score as clip_score

    monkeypatch.setattr(clip_score, "ClipScorer", lambda spec: pytest.fail("a finished run must not load CLIP"))
    again = run(_request(tmp_path, clip))
    assert again.predicted == 0 and again.cached == 16
    assert again.results["metrics"] == first["metrics"] and again.results["ci95"] == first["ci95"]
    assert len(swatch.read_text().splitlines()) == 16


def test_interrupted_run_resumes_with_identical_results(tmp_path, swatch, clip):
    reference = run(_request(tmp_path, clip, output_root=tmp_path / "ref")).results
    out = run(_request(tmp_path, clip))
    preds = out.run_dir / "predictions"
    (preds / "demo-0003/1.png").unlink()                         # never written
    (preds / "demo-0005/0.png").write_bytes(b"\x89PNG truncated")  # half-written by a killed process
    rows = (out.run_dir / "samples.jsonl").read_text().splitlines()
    (out.run_dir / "samples.jsonl").write_text("\n".join(rows[:5]) + "\n")  # scores of a killed run
    (out.run_dir / "results.json").unlink()
    swatch.write_text("")
    again = run(_request(tmp_path, clip))
    assert again.predicted == 2
    assert sorted(swatch.read_text().split()[0::2]) == ["demo-0003", "demo-0005"]
    for key in ("metrics", "ci95", "n_samples", "n_images"):
        assert again.results[key] == reference[key], key
    # The two re-scored images go through CLIP as a batch of 2 instead of inside a batch of 16; on some CPUs the
    # kernels then round differently in the last bits (README: "may differ in the last bits"), which the raw-cosine
    # mean keeps and the rounded percent metrics do not.
    assert again.results["clip_variants"] == pytest.approx(reference["clip_variants"], rel=1e-6, abs=1e-9)


def test_seed_and_k_change_the_run_directory_and_images(tmp_path, swatch, clip):
    a = run(_request(tmp_path, clip))
    b = run(_request(tmp_path, clip, seed=1))
    c = run(_request(tmp_path, clip, args={"images_per_prompt": "1"}))
    assert len({a.run_dir, b.run_dir, c.run_dir}) == 3
    assert c.results["n_images"] == 8
    assert _rows(a.run_dir)[0]["seed"] != _rows(b.run_dir)[0]["seed"]
    with pytest.raises(PartbenchError, match=r"Suite 'demo-t2i' \(generation\): --method-arg images_per_prompt must "
                                             r"be at least 1, got '0'"):
        run(_request(tmp_path, clip, args={"images_per_prompt": "0"}))


def test_changing_the_clip_model_rescoring_only(tmp_path, swatch, clip, tmp_path_factory):
    from helpers.generation import tiny_open_clip

    first = run(_request(tmp_path, clip))
    first_cos = [r["cos"] for r in _rows(first.run_dir)]
    other = tiny_open_clip(tmp_path / "other-clip", seed=1)
    again = run(_request(tmp_path, {"clip_model": str(other[0]), "clip_pretrained": str(other[1])}))
    assert again.run_dir == first.run_dir and again.predicted == 0
    assert again.results["clip_score"]["fingerprint"] != first.results["clip_score"]["fingerprint"]
    assert [r["cos"] for r in _rows(again.run_dir)] != first_cos


def test_wrong_kinds_are_refused(tmp_path, swatch, clip):
    with pytest.raises(PartbenchError, match="cannot run on suite 'demo-t2i'"):
        run(_request(tmp_path, clip, method="random"))
    with pytest.raises(PartbenchError, match="cannot run on suite 'demo'"):
        run(RunRequest(method="swatch", suite="demo", data_root=tmp_path, output_root=tmp_path / "runs"))


# -- image-folder ------------------------------------------------------------------------------------------------------
def test_image_folder_scores_like_the_run_that_made_the_images(tmp_path, swatch, clip, capsys):
    made = run(_request(tmp_path, clip))
    folder = tmp_path / "elsewhere"
    shutil.copytree(made.run_dir / "predictions", folder)
    for png in folder.glob("demo-0002/*.png"):  # other tools write JPEG or PNG: both are read
        from PIL import Image

        Image.open(png).save(png.with_suffix(".webp"), lossless=True)
        png.unlink()
    (folder / "notes.txt").write_text("extra")
    (folder / "demo-0001/7.png").write_bytes((folder / "demo-0001/0.png").read_bytes())
    imported = run(_request(tmp_path, clip, method="image-folder", args={"path": str(folder)}))
    assert imported.results["metrics"] == pytest.approx(made.results["metrics"])
    assert imported.results["inputs"]["extra"] == 2
    assert "2 extra file(s) ignored" in capsys.readouterr().err.replace("\n", "")

    (folder / "demo-0004/1.png").unlink()
    shutil.rmtree(folder / "demo-0006")
    with pytest.raises(PartbenchError, match=r"3 of 16 expected images are missing \(demo-0004/1\.png, "
                                             r"demo-0006/0\.png, demo-0006/1\.png\)"):
        run(_request(tmp_path, clip, method="image-folder", args={"path": str(folder)}, force=True))
    with pytest.raises(PartbenchError, match="needs the folder of images"):
        run(_request(tmp_path, clip, method="image-folder"))


def test_clip_model_tiny_scores_offline_and_marks_the_run_not_meaningful(tmp_path, swatch, clip, monkeypatch):
    """A new user's smoke run needs no CLIP weights (-a clip_model=tiny); its numbers are then marked as meaning
    nothing, even for a method whose own numbers would count."""
    import huggingface_hub.constants as hc

    made = run(_request(tmp_path, clip))
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))  # nothing to load weights from
    tiny = {"path": str(made.run_dir / "predictions"), "clip_model": "tiny"}
    imported = run(_request(tmp_path, {}, method="image-folder", args=tiny))
    res = imported.results
    assert res["meaningful"] is False and res["n_images"] == 16
    assert res["clip_score"]["backend"] == "tiny" and res["clip_score"]["fingerprint"].startswith("tiny-")
    assert 0 <= res["metrics"]["clip_score"] <= 100 and np.isfinite([r["cos"] for r in _rows(imported.run_dir)]).all()
    import partbench.metrics.clip_score as clip_score

    with monkeypatch.context() as patched:
        patched.setattr(clip_score, "ClipScorer", lambda spec: pytest.fail("the same tiny CLIP: rows are reused"))
        assert run(_request(tmp_path, {}, method="image-folder", args=tiny)).results["metrics"] == res["metrics"]
    # scored again with a real (here: file-configured) CLIP, the same run counts again
    real = run(_request(tmp_path, clip, method="image-folder", args={"path": tiny["path"]}))
    assert real.run_dir == imported.run_dir and real.results["meaningful"] is True


# -- CLI ---------------------------------------------------------------------------------------------------------------
def test_cli_prompts_listing():
    from partbench.cli.main import app

    result = CliRunner().invoke(app, ["suites", "t2i-part-prompts", "--prompts", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == 500 and records[0]["files"] == ["p0000/0.png"]
    text = CliRunner().invoke(app, ["suites", "demo-t2i", "--prompts"]).stdout
    assert "demo-0000/0.png,demo-0000/1.png" in text
    bad = CliRunner().invoke(app, ["suites", "demo", "--prompts"])
    assert bad.exit_code == 2 and "not a generation suite" in bad.output


def test_cli_run_and_table(tmp_path, swatch, clip):
    from partbench.cli.main import app

    args = [a for k, v in clip.items() for a in ("-a", f"{k}={v}")]
    result = CliRunner().invoke(app, ["run", "-m", "swatch", "-s", "demo-t2i", "--output", str(tmp_path / "runs"),
                                      "--bootstrap", "100", *args])
    assert result.exit_code == 0, result.output
    assert "CLIP score" in result.output and "copypaste: demo-t2i,swatch," in result.output
    table = CliRunner().invoke(app, ["table", str(tmp_path / "runs"), "--format", "json", "--no-published"])
    assert table.exit_code == 0, table.output
    assert "clip_score" in table.stdout
