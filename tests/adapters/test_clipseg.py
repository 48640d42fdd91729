"""CLIPSeg adapter on a tiny random model: the `partbench run` path, loading from a folder, batching invariance, and
an independent re-computation with the processor's plain one-image-N-prompts call."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from partbench.errors import PartbenchError  # noqa: E402
from partbench.run import RunRequest, run  # noqa: E402
from partbench.suites import load_suite  # noqa: E402


def _run(demo_root, args, **kw):
    return run(RunRequest(method="clipseg", suite="demo", data_root=demo_root, method_args=args, bootstrap=0,
                          workers=0, **kw))


def _predictions(outcome) -> dict[str, np.ndarray]:
    from partbench.data.images import read_label_png

    return {p.stem: read_label_png(p) for p in sorted((outcome.run_dir / "predictions").glob("*.png"))}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from partbench.adapters.clipseg import build_tiny

    model, processor = build_tiny(seed=0)
    folder = tmp_path_factory.mktemp("clipseg-tiny")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_tiny_preset_runs_end_to_end_and_is_marked_not_meaningful(demo_root):
    suite = load_suite("demo")
    outcome = _run(demo_root, {"preset": "tiny"})
    assert outcome.results["meaningful"] is False and outcome.predicted > 0
    assert outcome.results["method_config"]["prompt_rule"] == "class name with 's removed"
    reader = suite.make_reader(demo_root)
    for ref in reader.index("val").refs:
        pred = _predictions(outcome)[ref.id]
        sample = reader.load(ref)
        inside = pred[sample.object_mask]
        assert set(np.unique(inside)) <= set(suite.part_ids_of(ref.object_class))  # oracle-object vocabulary
        assert (pred[~sample.object_mask] == 255).all()
    assert _run(demo_root, {"preset": "tiny"}).predicted == 0  # cached: nothing recomputed


def test_loading_weights_from_a_folder_matches_the_preset_and_batching_does_not_matter(demo_root, tiny_dir):
    tiny = _predictions(_run(demo_root, {"preset": "tiny"}, limit=6))
    loaded = _run(demo_root, {"weights": str(tiny_dir)}, limit=6)
    one_pair = _run(demo_root, {"weights": str(tiny_dir), "max_pairs": "1"}, limit=6)  # single-prompt output shape
    assert loaded.results["meaningful"] is True
    assert loaded.results["method_config"]["path"] == str(tiny_dir)
    for sid, pred in tiny.items():
        np.testing.assert_array_equal(_predictions(loaded)[sid], pred)
        np.testing.assert_array_equal(_predictions(one_pair)[sid], pred)


def test_prediction_equals_an_independent_processor_call(demo_root):
    """Recompute one sample the way the model card does: processor(text=prompts, images=[image]*N), upsample,
    argmax among the object's parts."""
    import torch
    import torch.nn.functional as F

    from partbench.adapters.clipseg import ClipSeg, build_tiny
    from partbench.api.types import Vocabulary

    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    sample = reader.load(reader.index("val").refs[0])
    vocab = Vocabulary.from_suite(suite)
    method = ClipSeg(suite=suite, data_root=demo_root, args={"preset": "tiny", "device": "cpu"}, seed=0)
    ours = method.predict([sample], vocab)[0]

    model, processor = build_tiny(seed=0)
    ids = list(suite.part_ids_of(sample.object_class))
    prompts = [suite.classes[i].replace("'s", "") for i in ids]
    assert all("'" not in p for p in prompts)
    inputs = processor(text=prompts, images=[sample.image] * len(prompts), padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    # argmax over logits = argmax over sigmoid scores; the random model's logits (hundreds) saturate the sigmoid
    # into ties, so the comparison uses the logits.
    up = F.interpolate(logits[None], size=sample.size, mode="bilinear", align_corners=False)[0]
    expected = np.asarray(ids)[up.argmax(0).numpy()]
    assert (ours == expected).mean() > 0.999  # float noise may flip exact near-ties only


def test_missing_weights_and_bad_arguments_say_what_to_do(demo_root, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty-hf" / "hub"))
    with pytest.raises(PartbenchError, match=r"CIDAS/clipseg-rd64-refined.*weights="):
        _run(demo_root, {})
    with pytest.raises(PartbenchError, match="does not exist"):
        _run(demo_root, {"weights": str(tmp_path / "nowhere")})
    with pytest.raises(PartbenchError, match="unknown --method-arg"):
        _run(demo_root, {"preset": "tiny", "colour": "red"})


def test_status_reports_the_default_weights_without_blocking_other_weights(monkeypatch, tmp_path):
    import huggingface_hub.constants as hc

    from partbench.adapters.clipseg import status
    from partbench.registry import get_method

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert any("CIDAS/clipseg-rd64-refined" in m for m in status())
    assert any("CIDAS/clipseg-rd64-refined" in m for m in get_method("clipseg").missing())
    (tmp_path / "hub" / "models--CIDAS--clipseg-rd64-refined" / "snapshots" / "abc").mkdir(parents=True)
    assert status() == []
