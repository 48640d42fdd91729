"""ConceptAttention's multi-class recipe (`-a recipe=multiclass`, the paper's VOC multi-class segmentation
experiment) on tiny random models: the options it resolves to, concept normalisation against a re-statement, the
caption, and the run path."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from helpers.conceptattention import options as _options  # noqa: E402
from helpers.conceptattention import stock_forward  # noqa: E402
from helpers.conceptattention import stream_inputs as _inputs  # noqa: E402

from partbench.errors import PartbenchError  # noqa: E402
from partbench.run import RunRequest, run  # noqa: E402
from partbench.suites import load_suite  # noqa: E402


@pytest.fixture(scope="module")
def stock():
    """A tiny transformer, random inputs, and what the stock forward computes in every double block (via hooks)."""
    return stock_forward()


# Upstream: helblazer811/ConceptAttention (read at db30c4d, unchanged since 9c69fd5):
#   experiments/pascal_voc_segmentation/run_multi_class_seg_experiment.py L64-76 (normalize_concepts=True, softmax
#   False, num_steps=4, noise_timestep=3, layers=range(14, 18), background ["background", "floor", "grass", "tree",
#   "sky"]), L156 (caption ",".join(f"a {c}" for c in present_classes));
#   experiments/pascal_voc_segmentation/multi_class_segmentation.py L36-77 (argmax over background + targets of
#   image . concept dot products);
#   concept_attention/segmentation.py L200-211 (add_noise_to_image(..., is_schnell=False): the schedule is shifted
#   for schnell too), L316-318 (linear_normalization(concept_vectors, dim=-2) on (layers, samples, concepts, dim)).
MULTICLASS_BACKGROUND = "background,floor,grass,tree,sky"


def _shifted_entry_3(seq_len):
    """BFL FLUX.1 get_schedule(4, seq_len, shift=True)[3], restated: t = 0.25, mu = 0.5 + 0.65 (L - 256) / 3840,
    t' = e^mu / (e^mu + (1 / t - 1))."""
    import math

    mu = 0.5 + (1.15 - 0.5) / (4096 - 256) * (seq_len - 256)
    return math.exp(mu) / (math.exp(mu) + 3.0)


def _restated_concept_norm(x):
    """linear_normalization over the concept axis of (B, C, D) vectors, written out per (row, feature)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        for d in range(x.shape[2]):
            column = x[b, :, d] - x[b, :, d].min()
            total = column.sum()
            out[b, :, d] = column / total if total != 0 else column
    return out


def test_multiclass_recipe_resolves_to_the_experiments_options():
    opts = _options({"recipe": "multiclass"})
    assert (opts.recipe, opts.layers, opts.softmax, opts.normalize, opts.background, opts.prompt, opts.argmax) == (
        "multiclass", "14,15,16,17", "none", "concepts", MULTICLASS_BACKGROUND, "{parts}", "all")
    assert opts.layer_indices(19) == [14, 15, 16, 17]
    # untouched by the recipe: the demo API's and the experiment's common choices
    assert (opts.projection, opts.pooled, opts.latent, opts.resize, opts.draws, opts.image_size()) == (
        "pre", "zeros", "sample", "nearest", 1, 1024)
    # noise_timestep 3 of 4, shifted whatever the weights (1024²: 4096 tokens, mu = 1.15)
    assert float(opts.sigmas) == pytest.approx(_shifted_entry_3(4096), abs=1e-6)
    assert float(opts.sigmas) == pytest.approx(0.512844, abs=1e-6)
    for weights in ("black-forest-labs/FLUX.1-dev", "/models/flux.1-SCHNELL"):
        assert _options({"recipe": "multiclass", "weights": weights}).sigmas == opts.sigmas
    at_512 = _options({"recipe": "multiclass", "resolution": "512"})
    assert float(at_512.sigmas) == pytest.approx(_shifted_entry_3(32 * 32), abs=1e-6)
    # the tiny preset (3 double blocks, 4 px per token): the four blocks before the last -> 0 and 1; 64 tokens at 32²
    tiny = _options({"recipe": "multiclass", "preset": "tiny"})
    assert tiny.layers == "0,1"
    assert float(tiny.sigmas) == pytest.approx(_shifted_entry_3(64), abs=1e-6)
    with pytest.raises(PartbenchError, match="needs model=flux1"):
        _options({"recipe": "multiclass", "model": "flux2"})
    with pytest.raises(PartbenchError, match="recipe must be one of"):
        _options({"recipe": "voc"})


def test_explicit_options_override_the_multiclass_recipe():
    explicit = {"layers": "1,2", "sigmas": "0.25", "softmax": "concepts", "normalize": "none",
                "background": "background", "prompt": "a {object}", "argmax": "parts"}
    for name, value in explicit.items():
        opts = _options({"recipe": "multiclass", name: value})
        assert getattr(opts, name) == value, name
        rest = _options({"recipe": "multiclass"})
        for other in explicit.keys() - {name}:
            assert getattr(opts, other) == getattr(rest, other), (name, other)
    opts = _options({"recipe": "multiclass", **explicit})
    assert {k: getattr(opts, k) for k in explicit} == explicit


def test_default_recipe_is_unchanged():
    """Unset or named, the default recipe resolves to what the options were before recipes existed; its fingerprint
    and definition are checked in test_describe_and_fingerprint_follow_the_resolved_defaults."""
    for args in ({}, {"recipe": "encode_image"}, {"preset": "tiny"}):
        opts = _options(args)
        assert (opts.recipe, opts.layers, opts.sigmas, opts.softmax, opts.normalize, opts.background, opts.prompt,
                opts.argmax) == ("encode_image", "last4", "0.5", "concepts", "none",
                                 "background,floor,tree,person,grass,face", "", "parts"), args
    assert _options({"recipe": "encode_image"}) == _options({})
    flux2 = _options({"model": "flux2"})
    assert (flux2.softmax, flux2.normalize, flux2.argmax, flux2.prompt) == ("concepts", "none", "parts", "")


def test_concept_normalisation_matches_a_restatement(stock):
    from partbench.adapters.conceptattention.flux1_stream import concept_stream, normalize_concepts

    x = torch.tensor([[[1.0, -2.0, 3.0, 5.0], [4.0, 0.0, 3.0, 5.0], [-1.0, 2.0, 3.0, 6.0]],
                      [[0.5, 0.0, 0.0, 1.0], [0.5, 1.0, 0.0, 2.0], [2.5, 3.0, 0.0, 4.0]]])  # (B=2, C=3, D=4)
    expected = _restated_concept_norm(x.numpy())
    np.testing.assert_allclose(normalize_concepts(x).numpy(), expected, rtol=1e-6)
    assert np.allclose(expected[:, :, 2], 0)  # a feature equal over the concepts sums to 0 and stays 0
    np.testing.assert_allclose(expected[:, :, [0, 1, 3]].sum(1), 1.0, rtol=1e-12)
    # In the stream: the concept vectors (before projection) are normalised over the concepts, per batch row, before
    # the dot product with the untouched image vectors. Concepts = the prompt make them the stock text outputs.
    tr, x_in, seen = stock
    layers = list(range(len(tr.transformer_blocks)))
    out = concept_stream(tr, _inputs(x_in, x_in["prompt"], x_in["pooled"]), layers=layers, normalize="concepts")
    for i in layers:
        c_vec = torch.from_numpy(_restated_concept_norm(seen[("o_txt", i)].numpy())).float()
        torch.testing.assert_close(out.scores[i], torch.einsum("bcd,bnd->bcn", c_vec, seen[("o_img", i)]),
                                   rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="normalize must be one of"):
        concept_stream(tr, _inputs(x_in, x_in["prompt"], x_in["pooled"]), layers=[0], normalize="l2")


def test_multiclass_caption_concepts_and_background_wins(demo_root):
    """The caption lists the sample's candidate parts as "a {part},a {part2},..."; the concepts are the parts then
    the recipe's background concepts; a background concept's win is no prediction (argmax=all), a part's win with
    argmax=parts."""
    from partbench.adapters.conceptattention import ConceptAttention
    from partbench.adapters.conceptattention.method import concept_text
    from partbench.api.types import Vocabulary

    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    sample = reader.load(reader.index("val").refs[0])
    vocabulary = Vocabulary.from_suite(suite)
    ids = vocabulary.allowed(sample)
    parts = [concept_text(suite.classes[i]) for i in ids]
    seen = {}

    def fake_scores(image, concepts, prompt):  # the last background concept wins on the left half, part 1 elsewhere
        seen.update(concepts=concepts, prompt=prompt)
        maps = torch.zeros(len(concepts), 4, 4)
        maps[-1, :, :2] = 2.0
        maps[1] = 1.0
        return maps

    for args, left in (({"recipe": "multiclass"}, vocabulary.ignore_label), ({"recipe": "multiclass",
                                                                              "argmax": "parts"}, ids[1])):
        method = ConceptAttention(suite, demo_root, {"preset": "tiny", **args})
        method.backend.scores = fake_scores
        (pred,) = method.predict([sample], vocabulary)
        assert seen["prompt"] == ",".join(f"a {p}" for p in parts)
        assert seen["concepts"] == parts + MULTICLASS_BACKGROUND.split(",")
        width = pred.shape[1]
        assert (pred[:, : width // 4] == left).all() and (pred[:, -(width // 4):] == ids[1]).all()
    method = ConceptAttention(suite, demo_root, {"preset": "tiny", "recipe": "multiclass",
                                                 "prompt": "{object}: {parts}"})
    method.backend.scores = fake_scores
    method.predict([sample], vocabulary)
    assert seen["prompt"] == f"{sample.object_class}: " + ",".join(f"a {p}" for p in parts)


def test_multiclass_recipe_runs_end_to_end_and_is_its_own_run(demo_root, monkeypatch, tmp_path):
    import partbench.weights as weights
    from partbench.adapters.conceptattention import ConceptAttention
    from partbench.adapters.conceptattention.method import ADAPTER_VERSION, MULTICLASS_DEFINITION

    suite = load_suite("demo")
    req = dict(method="conceptattention", suite="demo", data_root=demo_root, bootstrap=0, workers=0, limit=4)
    args = {"preset": "tiny", "recipe": "multiclass"}
    outcome = run(RunRequest(method_args=args, **req))
    assert outcome.results["meaningful"] is False
    config = outcome.results["method_config"]
    assert config["definition"] == MULTICLASS_DEFINITION
    assert config["options"] == {**config["options"], "recipe": "multiclass", "layers": "0,1", "softmax": "none",
                                 "normalize": "concepts", "background": MULTICLASS_BACKGROUND, "prompt": "{parts}",
                                 "argmax": "all"}
    assert float(config["options"]["sigmas"]) == pytest.approx(_shifted_entry_3(64), abs=1e-6)
    from partbench.data.images import read_label_png

    preds = {p.name: read_label_png(p) for p in (outcome.run_dir / "predictions").glob("*.png")}
    assert len(preds) == 4
    for ref in suite.make_reader(demo_root).index("val").refs[:4]:
        labels = set(np.unique(preds[f"{ref.id}.png"])) - {255}
        assert labels <= set(suite.part_ids_of(ref.object_class))
    default = run(RunRequest(method_args={"preset": "tiny"}, **req))
    assert default.run_dir != outcome.run_dir
    # The fingerprint marks the recipe (tiny and real weights); the default's stays as it was.
    kw = dict(suite=None, data_root=tmp_path, seed=0)
    tiny_fp = ConceptAttention.fingerprint_for(args=args, **kw)
    assert tiny_fp.startswith("conceptattention-tiny-")
    assert tiny_fp != ConceptAttention.fingerprint_for(args={"preset": "tiny"}, **kw)
    monkeypatch.setattr(weights, "resolve_model", lambda ref, **_: tmp_path)
    monkeypatch.setattr(weights, "weights_fingerprint", lambda path: "abc123")
    assert ConceptAttention.fingerprint_for(args={"recipe": "multiclass"}, **kw) == (
        f"conceptattention-v{ADAPTER_VERSION}-multiclass1-abc123")
    assert ConceptAttention.fingerprint_for(args={"recipe": "encode_image"}, **kw) == (
        f"conceptattention-v{ADAPTER_VERSION}-abc123")
    # definition: layers, sigmas, caption and background aside; the scoring rule decides
    describe = ConceptAttention.describe_for
    assert describe(args={**args, "layers": "1", "sigmas": "0.5"}, **kw)["definition"] == MULTICLASS_DEFINITION
    for override in ({"argmax": "parts"}, {"normalize": "none"}, {"softmax": "concepts"}, {"projection": "post"}):
        assert describe(args={**args, **override}, **kw)["definition"] == "variant", override
    for variant in ({"normalize": "concepts"}, {"argmax": "all"}):
        assert describe(args={"preset": "tiny", **variant}, **kw)["definition"] == "variant"
        assert describe(args={"preset": "tiny", "model": "flux2", **variant}, **kw)["definition"] == "variant"


def test_concept_normalisation_runs_on_flux2(demo_root):
    """normalize=concepts is a variant on FLUX.2 too (the stream's scoring is shared)."""
    from partbench.adapters.conceptattention import ConceptAttention

    suite = load_suite("demo")
    sample = suite.make_reader(demo_root).load(suite.make_reader(demo_root).index("val").refs[0])
    concepts = ["head", "torso", "background"]
    plain = ConceptAttention(suite, demo_root, {"preset": "tiny", "model": "flux2", "softmax": "none"})
    normed = ConceptAttention(suite, demo_root, {"preset": "tiny", "model": "flux2", "softmax": "none",
                                                 "normalize": "concepts"})
    a, b = plain.scores(sample.image, concepts, ""), normed.scores(sample.image, concepts, "")
    assert a.shape == b.shape and not torch.allclose(a, b)
