"""ConceptAttention on a tiny random FLUX.1: the concept stream against the stock diffusers forward, the
aggregation rules against hand computations, and the `partbench run` path."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from helpers.conceptattention import options as _options  # noqa: E402
from helpers.conceptattention import record_double_blocks, stock_forward  # noqa: E402
from helpers.conceptattention import stream_inputs as _inputs  # noqa: E402

from partbench.errors import PartbenchError  # noqa: E402
from partbench.run import RunRequest, run  # noqa: E402
from partbench.suites import load_suite  # noqa: E402


@pytest.fixture(scope="module")
def stock():
    """A tiny transformer, random inputs, and what the stock forward computes in every double block (via hooks)."""
    return stock_forward()


def test_image_stream_is_the_stock_forward_whatever_the_concepts(stock):
    from partbench.adapters.conceptattention.flux1_stream import concept_stream

    tr, x, seen = stock
    last = len(tr.transformer_blocks) - 1
    for concepts in (torch.randn(2, 4, 32), torch.randn(2, 1, 32) * 10):
        out = concept_stream(tr, _inputs(x, concepts, torch.zeros(2, 32)), layers=[last])
        text_stock, image_stock = seen[("block", last)]
        torch.testing.assert_close(out.image_tokens, image_stock, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out.text_tokens, text_stock, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("projection", ["pre", "post"])
def test_concepts_equal_to_the_prompt_reproduce_the_stock_text_stream_and_scores(stock, projection):
    """With concept tokens = prompt tokens and the same conditioning, attention over [concepts, image] is the stock
    text queries' attention over [text, image]; so the concept stream must equal the stock text stream, and the
    scores must equal the dot products of the stock model's own attention outputs (hooked before/after projection)."""
    from partbench.adapters.conceptattention.flux1_stream import concept_stream

    tr, x, seen = stock
    layers = list(range(len(tr.transformer_blocks)))
    out = concept_stream(tr, _inputs(x, x["prompt"], x["pooled"]), layers=layers, projection=projection)
    for i in layers:
        if projection == "pre":
            c_vec, i_vec = seen[("o_txt", i)], seen[("o_img", i)]
        else:
            i_vec, c_vec = seen[("attn", i)]
        expected = torch.einsum("bcd,bnd->bcn", c_vec, i_vec)
        torch.testing.assert_close(out.scores[i], expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.concept_tokens, seen[("block", layers[-1])][0], rtol=1e-5, atol=1e-5)


def test_aggregation_rules_match_hand_computations():
    from partbench.adapters.conceptattention.flux1_stream import aggregate

    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # (C=2 concepts, N=2 patches)
    b = torch.tensor([[3.0, 0.0], [1.0, 0.0]])

    def softmax(v, axis):
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    an, bn = a.numpy(), b.numpy()
    np.testing.assert_allclose(aggregate([a, b]), (softmax(an, 0) + softmax(bn, 0)) / 2, rtol=1e-6)
    np.testing.assert_allclose(aggregate([a, b], softmax="patches"), (softmax(an, 1) + softmax(bn, 1)) / 2, rtol=1e-6)
    np.testing.assert_allclose(aggregate([a, b], order="mean_then_softmax", temperature=2.0),
                               softmax((an + bn) / 2 / 2, 0), rtol=1e-6)
    np.testing.assert_allclose(aggregate([a, b], softmax="none"), (an + bn) / 2, rtol=1e-6)


def test_tiny_preset_runs_end_to_end_reproducibly(demo_root, tmp_path):
    suite = load_suite("demo")
    req = dict(method="conceptattention", suite="demo", data_root=demo_root, bootstrap=0, workers=0, limit=4)
    first = run(RunRequest(method_args={"preset": "tiny"}, **req))
    assert first.results["meaningful"] is False
    config = first.results["method_config"]
    assert config["definition"].startswith("reference") and config["resolution"] == 32
    from partbench.data.images import read_label_png

    preds = {p.name: read_label_png(p) for p in (first.run_dir / "predictions").glob("*.png")}
    again = run(RunRequest(method_args={"preset": "tiny"}, force=True, output_root=tmp_path / "again", **req))
    for name, pred in preds.items():
        np.testing.assert_array_equal(read_label_png(again.run_dir / "predictions" / name), pred)
    reader = suite.make_reader(demo_root)
    for ref in reader.index("val").refs[:4]:
        labels = set(np.unique(preds[f"{ref.id}.png"])) - {255}
        assert labels <= set(suite.part_ids_of(ref.object_class))
    variant = run(RunRequest(method_args={"preset": "tiny", "projection": "post", "softmax": "patches",
                                          "sigmas": "0.25,0.75", "draws": "2", "pooled": "clip"}, **req))
    assert variant.results["method_config"]["definition"] == "variant"


def test_bad_options_and_missing_weights_are_clear(demo_root, monkeypatch, tmp_path):
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    req = dict(method="conceptattention", suite="demo", data_root=demo_root, bootstrap=0, workers=0, limit=1)
    with pytest.raises(PartbenchError, match="FLUX.1-schnell.*weights="):
        run(RunRequest(method_args={}, **req))
    with pytest.raises(PartbenchError, match="FLUX.2-klein-4B.*weights="):
        run(RunRequest(method_args={"model": "flux2"}, **req))
    with pytest.raises(PartbenchError, match="softmax must be one of"):
        run(RunRequest(method_args={"preset": "tiny", "softmax": "pixels"}, **req))
    with pytest.raises(PartbenchError, match="sigmas"):
        run(RunRequest(method_args={"preset": "tiny", "sigmas": "2"}, **req))
    with pytest.raises(PartbenchError, match="temperature must be a positive"):
        run(RunRequest(method_args={"preset": "tiny", "temperature": "0"}, **req))


# -- FLUX.2 (model=flux2) ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stock2():
    """The tiny FLUX.2 transformer, random inputs, and what its stock forward computes in every double block."""
    from diffusers import Flux2KleinPipeline

    from partbench.tiny_models.flux2_tiny import tiny_flux2_components

    tr = tiny_flux2_components(0).transformer
    g = torch.Generator().manual_seed(0)
    b, t, dim = 2, 5, tr.config.joint_attention_dim
    prompt = torch.randn(b, t, dim, generator=g)
    x = dict(latents=torch.randn(b, 16, tr.config.in_channels, generator=g),
             img_ids=Flux2KleinPipeline._prepare_latent_ids(torch.zeros(b, 1, 4, 4))[0], prompt=prompt,
             timestep=torch.tensor([0.5, 0.25]), txt_ids=Flux2KleinPipeline._prepare_text_ids(prompt)[0])
    seen = record_double_blocks(tr, lambda: tr(
        hidden_states=x["latents"], encoder_hidden_states=x["prompt"], timestep=x["timestep"],
        img_ids=x["img_ids"], txt_ids=x["txt_ids"]))
    return tr, x, seen


def _inputs2(x, concepts):
    from partbench.adapters.conceptattention.flux2_stream import Flux2StreamInputs

    return Flux2StreamInputs(latents=x["latents"], img_ids=x["img_ids"], prompt_embeds=x["prompt"],
                             txt_ids=x["txt_ids"], concept_embeds=concepts, timestep=x["timestep"])


def test_flux2_image_stream_is_the_stock_forward_whatever_the_concepts(stock2):
    from partbench.adapters.conceptattention.flux2_stream import concept_stream

    tr, x, seen = stock2
    dim = tr.config.joint_attention_dim
    for last in range(len(tr.transformer_blocks)):
        for concepts in (torch.randn(2, 4, dim), torch.randn(2, 1, dim) * 10):
            out = concept_stream(tr, _inputs2(x, concepts), layers=[last])
            text_stock, image_stock = seen[("block", last)]
            torch.testing.assert_close(out.image_tokens, image_stock, rtol=0, atol=0)  # bit-exact on CPU
            torch.testing.assert_close(out.text_tokens, text_stock, rtol=0, atol=0)


@pytest.mark.parametrize("projection", ["pre", "post"])
def test_flux2_concepts_equal_to_the_prompt_reproduce_the_stock_text_stream_and_scores(stock2, projection):
    """As the FLUX.1 test: concept tokens = prompt tokens at the prompt's RoPE positions turn the concept stream into
    the stock text stream, and the scores into dot products of the stock attention outputs. FLUX.2 text ids are not
    zeros, so the prompt is moved to ids (0, 0, 0, 0) for this check (the concept stream's ids)."""
    from partbench.adapters.conceptattention.flux2_stream import concept_stream

    tr, _, _ = stock2
    base = stock2[1]
    x = dict(base, txt_ids=torch.zeros_like(base["txt_ids"]))
    seen, hooks = {}, []
    for i, blk in enumerate(tr.transformer_blocks):
        hooks += [blk.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(("block", i), out)),
                  blk.attn.to_out[0].register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(("o_img", i), a[0])),
                  blk.attn.to_add_out.register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(("o_txt", i), a[0])),
                  blk.attn.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(("attn", i), out))]
    try:
        with torch.no_grad():
            tr(hidden_states=x["latents"], encoder_hidden_states=x["prompt"], timestep=x["timestep"],
               img_ids=x["img_ids"], txt_ids=x["txt_ids"])
    finally:
        for h in hooks:
            h.remove()
    layers = list(range(len(tr.transformer_blocks)))
    out = concept_stream(tr, _inputs2(x, x["prompt"]), layers=layers, projection=projection)
    for i in layers:
        if projection == "pre":
            c_vec, i_vec = seen[("o_txt", i)], seen[("o_img", i)]
        else:
            i_vec, c_vec = seen[("attn", i)]
        torch.testing.assert_close(out.scores[i], torch.einsum("bcd,bnd->bcn", c_vec, i_vec), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.concept_tokens, seen[("block", layers[-1])][0], rtol=1e-5, atol=1e-5)


def test_flux2_tiny_preset_runs_end_to_end_reproducibly(demo_root, tmp_path):
    suite = load_suite("demo")
    args = {"preset": "tiny", "model": "flux2"}
    req = dict(method="conceptattention", suite="demo", data_root=demo_root, bootstrap=0, workers=0, limit=4)
    first = run(RunRequest(method_args=args, **req))
    assert first.results["meaningful"] is False
    config = first.results["method_config"]
    assert config["definition"].startswith("reference") and config["resolution"] == 32
    assert config["options"]["model"] == "flux2" and "FLUX.2" in config["model"]
    assert config["definition"] == "reference (ConceptAttention FLUX.2 port)"
    # The resolved FLUX.2 defaults are what the run records (tiny: 32 px, 4 px per token -> 64 tokens).
    assert {k: config["options"][k] for k in ("layers", "order", "temperature")} == {
        "layers": "last3", "order": "mean_then_softmax", "temperature": 1000.0}
    assert float(config["options"]["sigmas"]) == pytest.approx(_port_sigma(64), abs=1e-6)
    from partbench.data.images import read_label_png

    preds = {p.name: read_label_png(p) for p in (first.run_dir / "predictions").glob("*.png")}
    assert len(preds) == 4
    again = run(RunRequest(method_args=args, force=True, output_root=tmp_path / "again", **req))
    for name, pred in preds.items():
        np.testing.assert_array_equal(read_label_png(again.run_dir / "predictions" / name), pred)
    reader = suite.make_reader(demo_root)
    for ref in reader.index("val").refs[:4]:
        labels = set(np.unique(preds[f"{ref.id}.png"])) - {255}
        assert labels <= set(suite.part_ids_of(ref.object_class))
    flux1 = run(RunRequest(method_args={"preset": "tiny"}, **req))
    assert flux1.run_dir != first.run_dir  # a different model is a different run
    with pytest.raises(PartbenchError, match="pooled=clip needs model=flux1"):
        run(RunRequest(method_args={**args, "pooled": "clip"}, **req))
    with pytest.raises(PartbenchError, match="model must be one of"):
        run(RunRequest(method_args={"preset": "tiny", "model": "flux3"}, **req))


def test_flux2_concept_token_is_the_last_token_of_the_concept_inside_the_chat_template(demo_root):
    """Real Klein wraps text in Qwen's chat template; the kept token must be the concept's last one, not a template
    token. Checked with a wrapping template on the tiny tokenizer against a hand-picked position."""
    from partbench.adapters.conceptattention import ConceptAttention

    method = ConceptAttention(load_suite("demo"), demo_root, {"preset": "tiny", "model": "flux2"})
    tok, encoder = method.parts.tokenizer, method.parts.text_encoder
    tok.chat_template = "the {% for m in messages %}{{ m['content'] }}{% endfor %} photo"
    emb = method.backend.concept_embedding("license plate")
    ids = tok("the license plate photo", return_tensors="pt")["input_ids"]
    assert tok.convert_ids_to_tokens(ids[0].tolist()) == ["the", "license", "plate", "photo"]
    with torch.no_grad():
        hidden = encoder(input_ids=ids, output_hidden_states=True).hidden_states
    torch.testing.assert_close(emb, torch.cat([hidden[k][0, 2] for k in method.parts.base_layers]))


# -- per-model defaults ------------------------------------------------------------------------------------------------
# Upstream: helblazer811/ConceptAttention, concept_attention/flux2/pipeline.py
# (commit e64a7bd2f98610bc636d40c32dde2699585f1213):
#   ConceptAttentionFlux2Pipeline.encode_image(width=2048, height=2048, layer_indices=None -> [5, 6, 7], num_steps=4,
#   noise_timestep=2, softmax=True, softmax_temperature=1000.0); t = get_schedule(num_steps,
#   encoded_image.shape[2] * encoded_image.shape[3])[noise_timestep]; compute_heatmaps_from_attention_dicts (lines
#   40-110): mean over "time blocks" first, then torch.softmax(avg / softmax_temperature, dim=0) over concepts.
#   concept_attention/flux2/flux2/src/flux2/sampling.py (commit 8f5a58a94e58b05435b51a9e5416990ed29cde12):
#   get_schedule = generalized_time_snr_shift(linspace(1, 0, num_steps + 1), compute_empirical_mu(seq, steps), 1.0).
# The FLUX.2 AE encodes to (B, 128, H/16, W/16) (8x, 2x2 patchify), so 1024² gives 4096 tokens, 2048² 16384.
def _port_mu(seq_len, num_steps=4):
    """BFL flux2 `compute_empirical_mu`, written out from the published constants (independent of the adapter)."""
    a1, b1 = 8.73809524e-05, 1.89833333
    a2, b2 = 0.00016927, 0.45666666
    if seq_len > 4300:
        return a2 * seq_len + b2
    m_200, m_10 = a2 * seq_len + b2, a1 * seq_len + b1
    a = (m_200 - m_10) / 190.0
    return a * num_steps + (m_200 - 200.0 * a)


def _port_sigma(seq_len):
    """linspace(1, 0, 5)[2] = 0.5, shifted: e^mu / (e^mu + (1/0.5 - 1)^1) = 1 / (1 + e^-mu)."""
    return 1.0 / (1.0 + np.exp(-_port_mu(seq_len)))


def test_flux2_defaults_are_the_flux2_ports_recipe():
    opts = _options({"model": "flux2"})
    assert (opts.layers, opts.order, opts.temperature, opts.softmax, opts.projection) == (
        "last3", "mean_then_softmax", 1000.0, "concepts", "pre")
    assert opts.layer_indices(8) == [5, 6, 7]  # FLUX.2-dev's 8 double blocks: the port's layer_indices
    assert opts.layer_indices(5) == [2, 3, 4]  # Klein-4B's 5
    # sigma = the port's schedule entry at the run's resolution: 1024² (partbench's default) and 2048² (the port's)
    assert opts.image_size() == 1024
    assert float(opts.sigmas) == pytest.approx(_port_sigma(64 * 64), abs=1e-6)
    assert float(opts.sigmas) == pytest.approx(0.908144, abs=1e-6)
    at_2048 = _options({"model": "flux2", "resolution": "2048"})
    assert float(at_2048.sigmas) == pytest.approx(_port_sigma(128 * 128), abs=1e-6)
    assert float(at_2048.sigmas) == pytest.approx(0.961947, abs=1e-6)
    assert float(_options({"model": "flux2", "resolution": "512"}).sigmas) == pytest.approx(_port_sigma(32 * 32),
                                                                                              abs=1e-6)


def test_flux1_defaults_are_unchanged():
    # schnell weights (the default) keep the unshifted sigma at any resolution
    for args in ({}, {"model": "flux1"}, {"model": "flux1", "resolution": "2048"}, {"preset": "tiny"}):
        opts = _options(args)
        assert (opts.layers, opts.order, opts.temperature, opts.sigmas) == (
            "last4", "softmax_then_mean", 1.0, "0.5"), args
        assert opts.sigma_values() == [0.5]
    assert _options({}).layer_indices(19) == [15, 16, 17, 18]


def test_flux1_dev_weights_get_the_shifted_schedule_and_latents_are_sampled():
    """Reference (flux/sampling.py get_schedule(4, 4096, shift=True)[2], restated): mu = 0.5 + (1.15 - 0.5) / (4096 -
    256) * (4096 - 256) = 1.15 at 1024², t = 0.5, sigma = e^1.15 / (e^1.15 + 1); schnell keeps 0.5."""
    import math

    dev = _options({"weights": "black-forest-labs/FLUX.1-dev"})
    assert float(dev.sigmas) == pytest.approx(math.exp(1.15) / (math.exp(1.15) + 1), abs=1e-6)
    mu_512 = 0.5 + 0.65 / 3840 * (1024 - 256)
    at_512 = _options({"weights": "/models/FLUX.1-dev", "resolution": "512"})
    assert float(at_512.sigmas) == pytest.approx(math.exp(mu_512) / (math.exp(mu_512) + 1), abs=1e-6)
    assert _options({"weights": "/models/flux.1-SCHNELL"}).sigmas == "0.5"
    assert (_options({}).latent, _options({"model": "flux2"}).latent) == ("sample", "mode")
    with pytest.raises(PartbenchError, match="latent"):
        _options({"latent": "mean"})


def test_sampled_latents_are_seeded_and_differ_from_the_mode(demo_root, tmp_path):
    from partbench.data.images import read_label_png

    req = dict(method="conceptattention", suite="demo", data_root=demo_root, bootstrap=0, workers=0, limit=3)

    def predictions(args, out, seed=0):
        outcome = run(RunRequest(method_args={"preset": "tiny", "sigmas": "0.05", **args}, output_root=tmp_path / out,
                                 seed=seed, **req))
        return outcome, {p.name: read_label_png(p) for p in (outcome.run_dir / "predictions").glob("*.png")}

    sampled, a = predictions({}, "a")
    _, again = predictions({}, "b")
    _, mode = predictions({"latent": "mode"}, "c")
    assert a.keys() == again.keys() == mode.keys()
    assert all(np.array_equal(a[k], again[k]) for k in a)
    assert sampled.results["method_config"]["options"]["latent"] == "sample"
    # the scores move with the posterior draw (a label map may not, on three tiny samples): compare the scores
    from partbench.adapters.conceptattention.method import ConceptAttention

    suite = load_suite("demo")
    sample = suite.make_reader(demo_root).load(suite.make_reader(demo_root).index("val").refs[0])
    concepts = ["head", "torso", "background"]
    scores = {}
    for latent in ("sample", "mode"):
        method = ConceptAttention(suite, demo_root, {"preset": "tiny", "sigmas": "0.05", "latent": latent})
        scores[latent] = method.scores(sample.image, concepts, "")
    assert not np.allclose(scores["sample"].numpy(), scores["mode"].numpy())
    seeded = ConceptAttention(suite, demo_root, {"preset": "tiny", "sigmas": "0.05"}).scores(sample.image, concepts, "")
    np.testing.assert_array_equal(seeded.numpy(), scores["sample"].numpy())


def test_explicit_args_override_the_model_defaults():
    explicit = {"layers": "1,3", "order": "softmax_then_mean", "temperature": "2.5", "sigmas": "0.25,0.5"}
    for model in ("flux1", "flux2"):
        opts = _options({"model": model, **explicit})
        assert (opts.layers, opts.order, opts.temperature, opts.sigmas) == ("1,3", "softmax_then_mean", 2.5,
                                                                            "0.25,0.5")
    # one explicit option leaves the other defaults to the model
    opts = _options({"model": "flux2", "temperature": "1"})
    assert (opts.layers, opts.order, opts.temperature) == ("last3", "mean_then_softmax", 1.0)
    assert float(opts.sigmas) == pytest.approx(_port_sigma(4096), abs=1e-6)
    opts = _options({"model": "flux1", "order": "mean_then_softmax"})
    assert (opts.layers, opts.order, opts.temperature, opts.sigmas) == ("last4", "mean_then_softmax", 1.0, "0.5")


def test_describe_and_fingerprint_follow_the_resolved_defaults(monkeypatch, tmp_path):
    import hashlib
    import json
    from dataclasses import asdict

    import partbench.weights as weights
    from partbench.adapters.conceptattention import ConceptAttention
    from partbench.adapters.conceptattention.method import ADAPTER_VERSION, _tiny_config

    kw = dict(suite=None, data_root=tmp_path, seed=0)
    described = ConceptAttention.describe_for(args={"preset": "tiny", "model": "flux2"}, **kw)
    assert described["options"] == asdict(_options({"preset": "tiny", "model": "flux2"}))
    assert described["definition"] == "reference (ConceptAttention FLUX.2 port)"
    for variant in ({"temperature": "1"}, {"order": "softmax_then_mean"}):
        assert ConceptAttention.describe_for(args={"preset": "tiny", "model": "flux2", **variant},
                                             **kw)["definition"] == "variant"
    assert ConceptAttention.describe_for(args={"preset": "tiny"}, **kw)["definition"] == (
        "reference (BFL ConceptAttention)")
    # FLUX.1's tiny fingerprint is what it always was (same payload as before per-model defaults existed) ...
    payload = {"config": _tiny_config("flux1"), "seed": 0, "adapter": ADAPTER_VERSION}
    expected = "conceptattention-tiny-" + hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]
    assert ConceptAttention.fingerprint_for(args={"preset": "tiny"}, **kw) == expected
    # ... and FLUX.2's changed with its defaults: the cache key holds the args as passed, so a model=flux2 run made
    # with FLUX.1's recipe must not be reused.
    old = {"config": _tiny_config("flux2"), "seed": 0, "adapter": ADAPTER_VERSION, "model": "flux2"}
    old_fp = "conceptattention-flux2-tiny-" + hashlib.sha256(json.dumps(old).encode()).hexdigest()[:16]
    new_fp = ConceptAttention.fingerprint_for(args={"preset": "tiny", "model": "flux2"}, **kw)
    assert new_fp.startswith("conceptattention-flux2-tiny-") and new_fp != old_fp
    monkeypatch.setattr(weights, "resolve_model", lambda ref, **_: tmp_path)
    monkeypatch.setattr(weights, "weights_fingerprint", lambda path: "abc123")
    assert ConceptAttention.fingerprint_for(args={}, **kw) == f"conceptattention-v{ADAPTER_VERSION}-abc123"
    assert ConceptAttention.fingerprint_for(args={"model": "flux2"}, **kw) == (
        f"conceptattention-v{ADAPTER_VERSION}-flux2d2-abc123")


# -- recipe=multiclass: the paper's multi-class segmentation experiment (FLUX.1) ------------------------------------
