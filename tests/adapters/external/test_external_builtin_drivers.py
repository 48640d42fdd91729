"""PartCATSeg / LangHOPS adapters: the built-in drivers against stand-in checkouts (tests/fixtures/external)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from partbench.errors import PartbenchError
from partbench.suites import load_suite

pytestmark = pytest.mark.filterwarnings("ignore::partbench.adapters.external.methods.MergedSamplesWarning")

# The stand-ins' scores are two per-class constants from the checkpoint, one for the left and one for the right half
# of the output, so the expected maps below follow from the checkpoint alone (tests/fixtures/external/README.md).


def _weights(n: int, seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {"left": rng.uniform(0.1, 1.0, n).round(4).tolist(), "right": rng.uniform(0.1, 1.0, n).round(4).tolist()}


def _expected_map(sample, part_ids: list[int], weights: dict[str, list[float]], offset: int = 0) -> np.ndarray:
    """The prediction the stand-in's scores imply: per half, the object's part with the largest constant."""
    h, w = sample.size
    left = part_ids[int(np.argmax([weights["left"][offset + i] for i in part_ids]))]
    right = part_ids[int(np.argmax([weights["right"][offset + i] for i in part_ids]))]
    halves = np.where(np.arange(w)[None, :] < w // 2, left, right) * np.ones((h, 1), np.int64)
    return np.where(sample.object_mask, halves, 255)


def _resized(size: tuple[int, int], short: int, max_size: int) -> tuple[int, int]:
    """detectron2's ResizeShortestEdge output size (shortest edge to `short`, longest capped at `max_size`)."""
    h, w = size
    scale = short / min(h, w)
    if max(h, w) * scale > max_size:
        scale = max_size / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def _calls(checkout: Path) -> list[dict]:
    return [json.loads(p.read_text()) | {"image": np.load(p.with_suffix(".npy"))}
            for p in sorted((checkout / "calls").glob("*.json"))]


def _cli_run(demo_root, method: str, *method_args: str):
    from typer.testing import CliRunner

    from partbench.cli.main import app

    args = ["run", "--method", method, "--suite", "demo", "--data-root", str(demo_root), "--bootstrap", "0"]
    for a in method_args:
        args += ["-a", a]
    return CliRunner().invoke(app, args)


@pytest.fixture
def partcatseg_checkout(tmp_path, external_fixture) -> Path:
    suite = load_suite("demo")
    repo = external_fixture("partcatseg", tmp_path / "part-catseg")
    external_fixture("detectron2", repo / "detectron2")
    external_fixture("stand_in_log.py", repo / "baselines/stand_in_log.py")
    (repo / "classes.json").write_text(json.dumps({"classes": list(suite.classes),
                                                   "objects": list(suite.object_classes)}))
    (repo / "weights").mkdir()
    (repo / "weights" / "partcatseg_demo.pth").write_text(json.dumps(_weights(len(suite.classes), seed=1)))
    return repo


def _langhops_constants(objects, parts) -> str:
    return (f"PASCALVOC_OBJECT_CLASS_NAMES = {list(objects)!r}\nPASCALVOC_PART_CLASS_NAMES = {list(parts)!r}\n"
            "ADE20K_OBJECT_CLASS_NAMES = ['chair']\nADE20K_PART_CLASS_NAMES = [\"chair's leg\"]\n"
            "PARTIMAGENET_SEMSEG_OBJECT_CATEGORIES = ['tench']\n"
            "PARTIMAGENET_SEMSEG_PART_CATEGORIES = [\"tench's fin\"]\n")


@pytest.fixture
def langhops_checkout(tmp_path, external_fixture) -> Path:
    suite = load_suite("demo")
    repo = external_fixture("langhops", tmp_path / "LangHOPS-release")
    external_fixture("detectron2", repo / "detectron2")  # merges with the checkout's detectron2/projects
    external_fixture("stand_in_log.py", repo / "projects/PartGLEE/partglee/stand_in_log.py")
    # A stand-in whose Pascal-Part vocabulary is the demo suite's (the real one is Pascal-Part-116's).
    (repo / "projects/PartGLEE/partglee/models/_CONSTANTS.py").write_text(
        _langhops_constants(suite.object_classes, suite.classes))
    (repo / "checkpoint.pth").write_text(
        json.dumps(_weights(len(suite.object_classes) + len(suite.classes), seed=2)))
    return repo


def _run_dir(method: str) -> Path:
    (run_dir,) = [p for p in Path("runs/demo").iterdir() if p.name.split("@")[0] == method]
    return run_dir
def test_langhops_builtin_driver_end_to_end(demo_root, demo_samples, saved_prediction, langhops_checkout):
    """`partbench run --method langhops -a repo= python= checkpoint=` with no driver= and no config=."""
    from PIL import Image

    suite, samples = demo_samples
    weights = json.loads((langhops_checkout / "checkpoint.pth").read_text())
    result = _cli_run(demo_root, "langhops", f"repo={langhops_checkout}", f"python={sys.executable}",
                      f"checkpoint={langhops_checkout / 'checkpoint.pth'}")
    assert result.exit_code == 0, result.output
    run_dir = _run_dir("langhops")
    results = json.loads((run_dir / "results.json").read_text())
    config = results["method_config"]
    assert config["driver"] == "langhops" and "oracle-object" in config["inference_setting"]
    assert config["config"] == "projects/PartGLEE/configs/Training/Joint-Training-Swin-L_LLM.yaml"

    scored = [s for s in samples if suite.part_ids_of(s.object_class)]
    calls = _calls(langhops_checkout)
    assert [c["file_name"] for c in calls] == [str(s.ref.image_path) for s in scored]
    for s, call in zip(scored, calls):
        # the record PartGLEE.forward's OV-Parts semantic branch needs; only the sample's object stays enabled
        assert call["task"] == "pascalvoc" and call["gt_objs"] == [s.object_class]
        assert {"image", "height", "width", "dataset_name", "sem_seg"} <= set(call["keys"])
        assert (call["height"], call["width"]) == s.size
        # scripts/inference.sh's model settings, plus the semantic head partbench needs
        assert call["use_llm"] is False and call["is_vlm"] is True and call["part_query_mode"] == "clip_query"
        assert call["llm_type"] == "google/paligemma2-3b-pt-448"
        assert (call["num_object_queries"], call["topk_object_queries"]) == (200, 30)
        assert call["box_restrictions"] is False and call["oracle"] is True
        assert call["weights"] == str(langhops_checkout / "checkpoint.pth")
        assert not Path(call["output_dir"]).is_relative_to(langhops_checkout)
        # the config's INPUT: BGR, shortest edge 96, as a CxHxW uint8 tensor
        h, w = _resized(s.size, 96, 1333)
        assert call["image_dtype"] == "torch.uint8" and call["image_shape"] == [3, h, w]
        rgb = np.asarray(Image.open(s.ref.image_path).convert("RGB"))
        bgr = np.asarray(Image.fromarray(np.ascontiguousarray(rgb[:, :, ::-1])).resize((w, h), Image.BILINEAR))
        np.testing.assert_array_equal(call["image"], bgr.transpose(2, 0, 1))
        offset = len(suite.object_classes)  # the model's channels are objects first, then parts
        expected = _expected_map(s, list(suite.part_ids_of(s.object_class)), weights, offset)
        np.testing.assert_array_equal(saved_prediction(run_dir, s.id), expected)
    assert not (langhops_checkout / "projects/PartGLEE/output").exists()  # nothing written into the checkout


def test_partcatseg_builtin_driver_end_to_end(demo_root, demo_samples, saved_prediction, partcatseg_checkout):
    from PIL import Image

    suite, samples = demo_samples
    weights = json.loads((partcatseg_checkout / "weights/partcatseg_demo.pth").read_text())
    result = _cli_run(demo_root, "partcatseg", f"repo={partcatseg_checkout}", f"python={sys.executable}",
                      f"checkpoint={partcatseg_checkout / 'weights/partcatseg_demo.pth'}",
                      "config=configs/zero_shot/partcatseg_demo.yaml", "device=cpu")
    assert result.exit_code == 0, result.output
    run_dir = _run_dir("partcatseg")
    config = json.loads((run_dir / "results.json").read_text())["method_config"]
    assert config["driver"] == "partcatseg" and config["config"] == "configs/zero_shot/partcatseg_demo.yaml"
    # the checkout's own transforms module, with INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST and "choice"
    assert json.loads((partcatseg_checkout / "resize.json").read_text()) == {
        "module": "baselines.data.transforms", "args": [64, 80, "choice"]}

    scored = [s for s in samples if suite.part_ids_of(s.object_class)]
    calls = _calls(partcatseg_checkout)
    assert [(c["file_name"], c["object"]) for c in calls] == [(str(s.ref.image_path), s.object_class) for s in scored]
    for s, call in zip(scored, calls):
        assert call["seeds"] == [12345678] and call["eval_only"] is True and call["device"] == "cpu"
        assert call["weights"] == str(partcatseg_checkout / "weights/partcatseg_demo.pth")
        h, w = _resized(s.size, 64, 80)
        assert call["image_shape"] == [3, h, w] and call["instances_size"] == [h, w]
        assert (call["height"], call["width"]) == s.size
        rgb = np.asarray(Image.open(s.ref.image_path).convert("RGB"))
        resized = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
        np.testing.assert_array_equal(call["image"], resized.transpose(2, 0, 1))
        expected = _expected_map(s, list(suite.part_ids_of(s.object_class)), weights)
        np.testing.assert_array_equal(saved_prediction(run_dir, s.id), expected)
    assert not (partcatseg_checkout / "output").exists()


def test_partcatseg_partimagenet_mappers_feed_the_image_at_its_own_size(demo_root, demo_samples,
                                                                       partcatseg_checkout):
    """part-catseg's PartImageNet mappers compute the test resize but never apply it (`# image = aug_input.image`)."""
    suite, samples = demo_samples
    result = _cli_run(demo_root, "partcatseg", f"repo={partcatseg_checkout}", f"python={sys.executable}",
                      f"checkpoint={partcatseg_checkout / 'weights/partcatseg_demo.pth'}",
                      "config=configs/zero_shot/partcatseg_partimagenet_demo.yaml", "device=cpu")
    assert result.exit_code == 0, result.output
    scored = [s for s in samples if suite.part_ids_of(s.object_class)]
    calls = _calls(partcatseg_checkout)
    assert calls and len(calls) == len(scored)
    for s, call in zip(scored, calls):
        assert call["image_shape"] == [3, *s.size] and call["instances_size"] == list(s.size)


def test_builtin_drivers_say_what_checkout_they_expected_and_what_they_found(run_demo, tmp_path):
    other = tmp_path / "some-other-repo"
    other.mkdir()
    (other / "setup.py").write_text("")
    (other / "model.pth").write_text("{}")
    base = {"repo": str(other), "python": sys.executable, "checkpoint": str(other / "model.pth")}
    with pytest.raises(PartbenchError) as langhops:
        run_demo("langhops", base)
    message = str(langhops.value)
    assert "not look like a LangHOPS checkout (neelimagprasad/LangHOPS-release" in message
    assert "missing projects/PartGLEE/train_net.py, projects/PartGLEE/partglee/PartGLEE.py, detectron2/__init__.py" \
        in message
    assert "Found at its top level: model.pth, setup.py" in message and "driver=MODULE:FUNCTION" in message
    with pytest.raises(PartbenchError) as partcatseg:
        run_demo("partcatseg", base | {"config": "configs/x.yaml"})
    message = str(partcatseg.value)
    assert "not look like a PartCATSeg checkout (kaist-cvml/part-catseg)" in message
    assert "missing train_net.py, baselines/partcatseg.py" in message and "model.pth, setup.py" in message


def test_partcatseg_config_and_class_list_errors(run_demo, partcatseg_checkout):
    base = {"repo": str(partcatseg_checkout), "python": sys.executable,
            "checkpoint": str(partcatseg_checkout / "weights/partcatseg_demo.pth")}
    with pytest.raises(PartbenchError, match="no default partcatseg config for suite 'demo'.*configs/zero_shot/"):
        run_demo("partcatseg", base)
    with pytest.raises(PartbenchError, match="config configs/nope.yaml not found in the checkout"):
        run_demo("partcatseg", base | {"config": "configs/nope.yaml"})
    with pytest.raises(PartbenchError, match="KEY VALUE pairs"):
        run_demo("partcatseg", base | {"config": "configs/zero_shot/partcatseg_demo.yaml", "opts": "A.B"})
    # a checkpoint's test dataset with other classes is refused before any prediction
    meta = json.loads((partcatseg_checkout / "classes.json").read_text())
    meta["classes"][2] = "figure's hat"
    (partcatseg_checkout / "classes.json").write_text(json.dumps(meta))
    with pytest.raises(PartbenchError, match=r"first difference is at #2 \(suite: \"figure's left upper arm\", "
                                             r"model: \"figure's hat\"\)"):
        run_demo("partcatseg", base | {"config": "configs/zero_shot/partcatseg_demo.yaml"})
    assert not (partcatseg_checkout / "calls").exists()


def test_langhops_vocabulary_mismatch_and_config_overrides(run_demo, langhops_checkout):
    suite = load_suite("demo")
    args = {"repo": str(langhops_checkout), "python": sys.executable,
            "checkpoint": str(langhops_checkout / "checkpoint.pth")}
    # opts= overrides win over the driver's defaults: without the semantic head there is no part map to score
    with pytest.raises(PartbenchError, match="returned no 'sem_seg'.*SEMANTIC_ON"):
        run_demo("langhops", args | {"opts": "MODEL.MaskDINO.TEST.SEMANTIC_ON False"})
    constants = langhops_checkout / "projects/PartGLEE/partglee/models/_CONSTANTS.py"
    constants.write_text(_langhops_constants(suite.object_classes, suite.classes[:-1]))
    with pytest.raises(PartbenchError, match=r"match none of the vocabularies.*pascalvoc: 62 classes "
                                             r"\(PASCALVOC_PART_CLASS_NAMES\), ade20k: 1 classes"):
        run_demo("langhops", args, output_root=Path("runs2"))


def test_driver_override_still_wins_over_a_recognised_checkout(run_demo, langhops_checkout, external_fixture):
    external_fixture("stand_in", langhops_checkout)  # fake_codebase.py and model.pth
    outcome = run_demo("langhops", {"repo": str(langhops_checkout), "python": sys.executable,
                                    "checkpoint": str(langhops_checkout / "model.pth"),
                                    "driver": "fake_codebase:predict"})
    assert outcome.results["method_config"]["driver"] == "fake_codebase:predict"
    assert outcome.results["method_config"]["config"] is None
    assert not (langhops_checkout / "calls").exists()  # the built-in driver never ran
