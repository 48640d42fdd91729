"""Every command through typer's CliRunner, on the generated demo suite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import invoke
from PIL import Image

from partbench.suites import load_suite


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("suites", "methods", "run", "score", "table", "data"):
        assert command in result.output


@pytest.mark.parametrize("entry", ["partbench", "partbench.cli.main"])
def test_every_entry_module_shows_help(entry):
    import subprocess
    import sys

    shown = subprocess.run([sys.executable, "-m", entry, "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "run" in shown.stdout and "table" in shown.stdout, shown.stderr


def test_suites_lists_presence_and_classes(demo_root):
    result = invoke("suites", "--data-root", demo_root, "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["demo"]["data_present"] is True
    assert rows["pascal-part-116"]["data_present"] is False
    assert "PascalPart116" in rows["pascal-part-116"]["obtain"]
    assert (rows["pascal-part-116"]["seen"], rows["pascal-part-116"]["unseen"]) == (74, 42)

    result = invoke("suites", "pascal-part-116", "--classes", "--json")
    classes = json.loads(result.output)
    assert classes[0] == {"id": 0, "name": "aeroplane's body", "seen": True}
    assert len(classes) == 116

    plain = invoke("suites", "demo", "--classes")
    first = plain.output.splitlines()[0].split("\t")
    assert first == ["0", load_suite("demo").classes[0], "seen" if not load_suite("demo").unseen_mask[0] else "unseen"]


def test_suites_unknown_name_suggests():
    result = invoke("suites", "pascal-part-16")
    assert result.exit_code == 2
    assert "Did you mean 'pascal-part-116'" in result.output


def test_methods_lists_baselines():
    result = invoke("methods", "--json")
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {"oracle", "random", "spatial-prior"} <= set(rows)
    assert all(rows[m]["runnable"] for m in ("oracle", "random", "spatial-prior"))


def test_run_oracle_scores_100_and_rerun_does_no_work(demo_root):
    args = ("run", "--method", "oracle", "--suite", "demo", "--data-root", demo_root, "--bootstrap", "50")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    results = json.loads(Path("runs/demo/oracle/results.json").read_text())
    assert results["metrics"]["h_iou"] == pytest.approx(100.0)
    assert results["metrics"]["lr_confusion"] == pytest.approx(0.0)
    assert results["meaningful"] is False
    assert results["n_skipped"]["no_part_classes"] > 0
    assert set(results) >= {"schema_version", "suite", "suite_version", "method", "convention", "n_samples",
                            "metrics", "ci95", "per_class", "provenance"}
    config = json.loads(Path("runs/demo/oracle/config.json").read_text())
    assert config["method"] == "oracle" and config["suite_version"] == load_suite("demo").version
    assert len(Path("runs/demo/oracle/samples.jsonl").read_text().splitlines()) == results["n_samples"]

    mtimes = {p: p.stat().st_mtime_ns for p in Path("runs/demo/oracle/predictions").iterdir()}
    second = invoke(*args)
    assert second.exit_code == 0
    assert f"predicted 0, reused {results['n_samples']}" in second.output
    assert {p: p.stat().st_mtime_ns for p in Path("runs/demo/oracle/predictions").iterdir()} == mtimes
    assert json.loads(Path("runs/demo/oracle/results.json").read_text())["metrics"] == results["metrics"]


def test_run_limit_seed_convention_and_force(demo_root):
    base = ("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0")
    assert invoke(*base, "--limit", "3").exit_code == 0
    assert json.loads(_run_path("random", limit=3).joinpath("results.json").read_text())["n_samples"] == 3
    # another seed is another run directory, not a silent overwrite
    assert invoke(*base, "--limit", "3", "--seed", "1").exit_code == 0
    seeded = [p.name for p in Path("runs/demo").iterdir() if p.name.startswith("random@")]
    assert len(seeded) == 2 and _run_path("random", seed=1, limit=3).name in seeded
    catseg = invoke(*base, "--convention", "partcatseg")
    assert catseg.exit_code == 0
    res = json.loads(Path("runs/demo/random/results.json").read_text())
    assert res["convention"] == "partcatseg"
    assert res["metrics"]["seen_miou"] == res["by_convention"]["partcatseg"]["seen_miou"]
    # dropping zero-IoU classes can only raise the mean
    assert res["by_convention"]["partcatseg"]["miou"] >= res["by_convention"]["ovparts"]["miou"]
    forced = invoke(*base, "--limit", "2", "--force")
    assert "predicted 2, reused 0" in forced.output


def _run_path(method: str, seed: int = 0, limit: int | None = None) -> Path:
    from partbench.store.run_dir import run_name

    return Path("runs/demo") / run_name(method, {}, seed, limit)


def test_run_errors_are_clear(demo_root, tmp_path):
    missing = invoke("run", "-m", "random", "-s", "pascal-part-116", "--data-root", tmp_path / "empty")
    assert missing.exit_code == 2
    assert "PascalPart116" in missing.output and "gdown" in missing.output
    unknown = invoke("run", "-m", "spatial_prior", "-s", "demo", "--data-root", demo_root)
    assert unknown.exit_code == 2 and "Did you mean 'spatial-prior'" in unknown.output
    bad_convention = invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--convention", "miou")
    assert bad_convention.exit_code == 2 and "convention" in bad_convention.output
    bad_arg = invoke("run", "-m", "spatial-prior", "-s", "demo", "--data-root", demo_root, "--method-arg", "grid")
    assert bad_arg.exit_code == 2 and "key=value" in bad_arg.output


def test_run_dir_of_other_settings_is_refused(demo_root):
    args = ("-s", "demo", "--data-root", demo_root, "--bootstrap", "0", "--limit", "2")
    assert invoke("run", "-m", "oracle", *args).exit_code == 0
    config = _run_path("oracle", limit=2) / "config.json"
    doc = json.loads(config.read_text())
    doc["suite_version"] = "0"
    config.write_text(json.dumps(doc))
    refused = invoke("run", "-m", "oracle", *args)
    assert refused.exit_code == 2
    assert "other settings" in refused.output and "suite_version" in refused.output
    assert invoke("run", "-m", "oracle", *args, "--force").exit_code == 0


def test_corrupt_cached_prediction_is_redone(demo_root):
    args = ("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0", "--limit", "3")
    assert invoke(*args).exit_code == 0
    run_dir = _run_path("random", limit=3)
    reference = json.loads((run_dir / "results.json").read_text())["metrics"]
    victim = sorted((run_dir / "predictions").glob("*.png"))[0]
    victim.write_bytes(b"not a png")
    again = invoke(*args)
    assert "predicted 1, reused 2" in again.output
    assert json.loads((run_dir / "results.json").read_text())["metrics"] == reference


def _export_oracle(demo_root: Path, out: Path, per_image: bool = False) -> None:
    """Write ground truth as predictions, as an external codebase would (per sample or per image)."""
    from partbench.data.readers import make_reader

    reader = make_reader(load_suite("demo"), demo_root)
    out.mkdir(parents=True)
    for ref in reader.index("val").refs:
        sample = reader.load(ref)
        stem = ref.image_id if per_image else ref.id
        path = out / f"{stem}.png"
        base = np.array(Image.open(path)) if path.exists() else np.full(sample.size, 255, np.uint8)
        base[sample.object_mask] = sample.part_label_map[sample.object_mask]
        Image.fromarray(base.astype(np.uint8)).save(path)


@pytest.mark.parametrize("per_image", [False, True])
def test_score_png_directory(demo_root, tmp_path, per_image):
    preds = tmp_path / "external"
    _export_oracle(demo_root, preds, per_image)
    result = invoke("score", "--suite", "demo", "--predictions", preds, "--data-root", demo_root, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    doc = json.loads(Path("runs/demo/imported-external/results.json").read_text())
    assert doc["metrics"]["h_iou"] == pytest.approx(100.0)
    assert doc["method"] == "imported:external"


def test_score_errors_name_the_file(demo_root, tmp_path):
    good = tmp_path / "good"
    _export_oracle(demo_root, good)

    def broken(name: str, damage) -> tuple[Path, Path]:
        preds = tmp_path / name
        shutil.copytree(good, preds)
        victim = sorted(preds.glob("*.png"))[1]
        damage(victim)
        return preds, victim

    preds, victim = broken("missing", Path.unlink)
    missing = invoke("score", "-s", "demo", "-p", preds, "--data-root", demo_root)
    assert missing.exit_code == 2 and "1 of" in missing.output and victim.stem in missing.output
    allowed = invoke("score", "-s", "demo", "-p", preds, "--data-root", demo_root, "--allow-missing",
                     "--bootstrap", "0")
    assert allowed.exit_code == 0
    assert json.loads(Path("runs/demo/imported-missing/results.json").read_text())["metrics"]["h_iou"] < 100

    def crop(path: Path) -> None:
        Image.fromarray(np.array(Image.open(path))[:-1]).save(path)

    def out_of_range(path: Path) -> None:
        label = np.array(Image.open(path))
        label[label != 255] = 200
        Image.fromarray(label).save(path)

    for name, damage, expected in [
        ("cropped", crop, "WxH"),
        ("out_of_range", out_of_range, "200 is out of range"),
        ("corrupt", lambda p: p.write_bytes(b"\x89PNG broken"), "cannot read"),
        ("rgb", lambda p: Image.new("RGB", (4, 4)).save(p), "single-channel"),
    ]:
        preds, victim = broken(name, damage)
        result = invoke("score", "-s", "demo", "-p", preds, "--data-root", demo_root)
        assert result.exit_code == 2, name
        assert victim.name in result.output and expected in result.output, result.output


def _detectron2_json(demo_root: Path, path: Path, num_classes: int) -> None:
    """Oracle predictions in detectron2's sem_seg_predictions.json format: per sample, one RLE per label, with
    label C (= num_classes) on off-object pixels, several samples of one image under the same file_name."""
    from pycocotools import mask as mask_utils

    from partbench.data.readers import make_reader

    reader = make_reader(load_suite("demo"), demo_root)
    entries = []
    for ref in reader.index("val").refs:
        sample = reader.load(ref)
        label = np.where(sample.object_mask, sample.part_label_map, num_classes)
        label[label == 255] = num_classes
        for k in np.unique(label):
            rle = mask_utils.encode(np.asfortranarray((label == k).astype(np.uint8)))
            entries.append({"file_name": f"/somewhere/images/val/{ref.image_id}.jpg", "category_id": int(k),
                            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    path.write_text(json.dumps(entries))


@pytest.mark.parametrize("processes", ["1", "3"])
def test_score_detectron2_json(demo_root, tmp_path, monkeypatch, processes):
    monkeypatch.setattr("partbench.run.loop.SCORE_BATCH", 2)  # every forked process gets samples
    suite = load_suite("demo")
    path = tmp_path / "out" / "inference" / "sem_seg_predictions.json"
    path.parent.mkdir(parents=True)
    _detectron2_json(demo_root, path, suite.num_classes)
    result = invoke("score", "-s", "demo", "-p", path, "--data-root", demo_root, "--bootstrap", "0",
                    "--output", tmp_path / "d2.json", "--processes", processes)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "d2.json").read_text())["metrics"]["h_iou"] == pytest.approx(100.0)


def test_data_generate_is_idempotent(tmp_path):
    root = tmp_path / "root"
    assert invoke("data", "generate", "demo", "--data-root", root).exit_code == 0
    again = invoke("data", "generate", "demo", "--data-root", root)
    assert again.exit_code == 0 and "already generated" in again.output
    assert invoke("data", "generate", "pascal", "--data-root", root).exit_code == 2


@pytest.mark.parametrize("argv, heavy", [
    (["--help"], ("numpy", "scipy", "torch")),
    (["run", "--help"], ("numpy", "scipy", "torch")),
    (["methods"], ("torch", "transformers", "diffusers")),  # status checks may import an adapter, never a model
])
def test_light_commands_do_not_import_heavy_libraries(argv, heavy):
    """`--help` must start fast, and listing methods must not pull in torch or model libraries."""
    import subprocess
    import sys

    code = ("import sys\nfrom partbench.cli.main import app\n"
            f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
