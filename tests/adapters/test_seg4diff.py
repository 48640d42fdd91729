"""Seg4Diff on tiny random SD3 / SD3.5 / FLUX.1 pipelines: the captured attention against a naive float64
computation, the stock forward untouched by the capture, each part's text columns, the prompt budget, MAGNET's LoRA,
the `partbench run` path, the layer sweep (`-a layers=...` -> `seg4diff@layer=K` runs sharing one forward), and the
offline refusals."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from partbench.errors import PartbenchError  # noqa: E402
from partbench.run import RunRequest, run  # noqa: E402

MODELS = ("sd3", "sd35", "flux")


@pytest.fixture(scope="module")
def backbones():
    from partbench.adapters.seg4diff.flux import FluxBackbone
    from partbench.adapters.seg4diff.options import Seg4DiffOptions
    from partbench.adapters.seg4diff.sd3 import SD3Backbone

    def build(model):  # FLUX.1 reads 128 T5 tokens here (512 in runs), which the test prompts fit
        extra = {"max_sequence_length": 128} if model == "flux" else {}
        options = Seg4DiffOptions(preset="tiny", model=model, **extra)
        return (FluxBackbone if model == "flux" else SD3Backbone)(options, 0, "cpu", torch.float32)

    return {m: build(m) for m in MODELS}


def _image(seed: int = 0, size=(40, 52)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


# -- the capture --------------------------------------------------------------------------------------------------
def _linear(layer, x):
    return x @ layer.weight.double().T + (layer.bias.double() if layer.bias is not None else 0)


def _rms(norm, x):
    if norm is None:
        return x
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps)
    return y * norm.weight.double() if getattr(norm, "weight", None) is not None else y


def _rope(x, rope):
    """FLUX's RoPE (diffusers `apply_rotary_emb`, real pairs interleaved) in float64: x (B, S, H, D)."""
    cos, sin = (r.double()[None, :, None, :] for r in rope)
    real, imag = x.unflatten(-1, (-1, 2)).unbind(-1)
    return x * cos + torch.stack([-imag, real], -1).flatten(3) * sin


def _naive_i2t(model, attn, kw, text_len, n_cols):
    """softmax(QKᵀ/√d) over all keys, float64, mean over heads, image rows x the first n_cols text columns."""
    heads = attn.heads
    hs = kw["hidden_states"].double()
    enc = kw.get("encoder_hidden_states")
    q, k = _linear(attn.to_q, hs).unflatten(-1, (heads, -1)), _linear(attn.to_k, hs).unflatten(-1, (heads, -1))
    q, k = _rms(attn.norm_q, q), _rms(attn.norm_k, k)
    if enc is not None:
        cq = _rms(attn.norm_added_q, _linear(attn.add_q_proj, enc.double()).unflatten(-1, (heads, -1)))
        ck = _rms(attn.norm_added_k, _linear(attn.add_k_proj, enc.double()).unflatten(-1, (heads, -1)))
        q, k = (torch.cat([q, cq], 1), torch.cat([k, ck], 1)) if model != "flux" else (
            torch.cat([cq, q], 1), torch.cat([ck, k], 1))
    if model == "flux":
        q, k = _rope(q, kw["image_rotary_emb"]), _rope(k, kw["image_rotary_emb"])
    probs = torch.einsum("bqhd,bkhd->bhqk", q, k).mul(q.shape[-1] ** -0.5).softmax(-1).mean(1)
    s = probs.shape[-1]
    if model == "flux":
        return probs[:, text_len:, :n_cols]
    return probs[:, : s - text_len, s - text_len: s - text_len + n_cols]


def _inputs_of(backbone, layers):
    """Record the keyword inputs of the chosen blocks' joint attention during a forward."""
    seen, hooks = {}, []
    attentions = backbone.attentions()
    for k in layers:
        hooks.append(attentions[k].register_forward_pre_hook(
            lambda mod, args, kwargs, k=k: seen.__setitem__(k, dict(kwargs)), with_kwargs=True))
    return seen, hooks


@pytest.mark.parametrize("model", MODELS)
def test_captured_maps_equal_a_naive_float64_attention(backbones, model):
    """The expert layer alone, and every block at once (the sweep), with image queries in chunks of 24 (of 64)."""
    backbone = backbones[model]
    from partbench.adapters.seg4diff.options import DEFAULT_LAYER

    expert, every = [DEFAULT_LAYER[model]], list(range(len(backbone.attentions())))
    prompts, n_cols = ("cow head left front paw", "tail"), 12
    for layers in (expert, every):
        seen, hooks = _inputs_of(backbone, layers)
        try:
            maps, grid = backbone.run(_image(), prompts, n_cols, layers, chunk=24)
        finally:
            for h in hooks:
                h.remove()
        assert sorted(maps) == layers and grid == (8, 8)
        text_len = 154 if model != "flux" else backbone.options.max_sequence_length
        for k in layers:
            naive = _naive_i2t(model, backbone.attentions()[k], seen[k], text_len, n_cols)
            assert maps[k].shape == naive.shape == (2, 64, n_cols)
            torch.testing.assert_close(maps[k].double(), naive, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("model", MODELS)
def test_the_stock_forward_is_bit_identical_with_capture_on(backbones, model):
    from partbench.adapters.seg4diff.capture import TextLayout

    backbone = backbones[model]
    tr = backbone.pipe.transformer
    g = torch.Generator().manual_seed(1)
    if model == "flux":
        from diffusers import FluxPipeline

        inputs = dict(hidden_states=torch.randn(1, 64, tr.config.in_channels, generator=g),
                      encoder_hidden_states=torch.randn(1, 7, tr.config.joint_attention_dim, generator=g),
                      pooled_projections=torch.randn(1, tr.config.pooled_projection_dim, generator=g),
                      timestep=torch.tensor([0.4]), guidance=torch.tensor([3.5]), txt_ids=torch.zeros(7, 3),
                      img_ids=FluxPipeline._prepare_latent_image_ids(1, 8, 8, "cpu", torch.float32))
        layout = TextLayout(image_first=False, text_len=7, n_cols=5)
    else:
        inputs = dict(hidden_states=torch.randn(1, 4, 16, 16, generator=g),
                      encoder_hidden_states=torch.randn(1, 9, tr.config.joint_attention_dim, generator=g),
                      pooled_projections=torch.randn(1, tr.config.pooled_projection_dim, generator=g),
                      timestep=torch.tensor([515.0]))
        layout = TextLayout(image_first=True, text_len=9, n_cols=5)
    with torch.no_grad():
        stock = tr(**inputs, return_dict=False)[0]
        for layers in ([backbone.options.layer], list(range(len(backbone.attentions())))):
            with backbone.captured(layers, layout, chunk=4096) as maps:
                captured = tr(**inputs, return_dict=False)[0]
            assert torch.equal(captured, stock) and sorted(maps) == layers
        processors = [type(a.processor).__name__ for a in backbone.attentions()]
        assert "_CaptureProcessor" not in processors  # the stock processors are back
        assert torch.equal(tr(**inputs, return_dict=False)[0], stock)


def test_sd35_captures_the_joint_attention_not_attn2(backbones):
    block = backbones["sd35"].pipe.transformer.transformer_blocks[9]
    assert block.attn2 is not None and backbones["sd35"].attentions()[9] is block.attn


def test_noise_levels_are_the_upstream_schedules():
    """timesteps[-8] of SD3's 28-step schedule, and of FLUX.1's 50-step one shifted for 4096 tokens (FluxPipeline)
    or, with flux_recipe=upstream, for the 16 latent channels upstream's code passes."""
    from types import SimpleNamespace

    from diffusers import FlowMatchEulerDiscreteScheduler

    from partbench.adapters.seg4diff.backbone import set_schedule
    from partbench.adapters.seg4diff.flux import FLUX_SCHEDULER, FluxBackbone
    from partbench.adapters.seg4diff.options import Seg4DiffOptions

    def entry(scheduler, steps, tokens=None):
        set_schedule(scheduler, steps, tokens)
        return float(scheduler.timesteps[-8]), float(scheduler.sigmas[len(scheduler.timesteps) - 8])

    assert entry(FlowMatchEulerDiscreteScheduler(shift=3.0), 28) == pytest.approx((515.072, 0.515072), abs=1e-3)
    latents = torch.zeros(1, 16, 128, 128)  # FLUX.1's latent at 1024²
    tokens = {recipe: FluxBackbone.shift_tokens(SimpleNamespace(options=Seg4DiffOptions(model="flux",
                                                                                        flux_recipe=recipe)), latents)
              for recipe in ("pipeline", "upstream")}
    assert tokens == {"pipeline": 4096, "upstream": 16}
    flux = FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER)
    assert entry(flux, 50, 4096) == pytest.approx((375.609, 0.375609), abs=1e-3)
    assert entry(flux, 50, 16) == pytest.approx((231.679, 0.231679), abs=1e-3)


# -- prompts and columns ------------------------------------------------------------------------------------------
def test_phrasing_of_part_names():
    from partbench.adapters.seg4diff.prompt import phrase

    assert phrase("dog's left front paw") == "dog left front paw"
    assert phrase("dog's left front paw", "part") == "left front paw"
    assert phrase("wheel", "part") == "wheel"


def test_sub_token_columns_of_multi_token_part_names(backbones):
    """CLIP (BOS, then words) and T5 (no BOS; the tiny T5 reads characters) put each name's tokens at the columns
    the upstream walk assigns; each class map is the mean of exactly those columns."""
    from partbench.adapters.seg4diff.prompt import class_maps, plan_prompts

    names = ["cow head", "left front paw", "xylophone", "tail"]
    sd3 = backbones["sd3"]
    plan = plan_prompts(names, sd3.tokenizers, 77)
    assert plan.prompts == ("cow head left front paw xylophone tail",)
    pieces = len(sd3.pipe.tokenizer("xylophone", add_special_tokens=False)["input_ids"])
    assert pieces > 1  # not in the tiny vocabulary: several pieces
    assert plan.columns == ((0, (1, 2)), (0, (3, 4, 5)), (0, tuple(range(6, 6 + pieces))), (0, (6 + pieces,)))
    tok = sd3.pipe.tokenizer
    ids = tok(plan.prompts[0])["input_ids"]
    assert tok.convert_ids_to_tokens(ids[3:6]) == ["left</w>", "front</w>", "paw</w>"]

    t5 = plan_prompts(names, backbones["flux"].tokenizers, 512)
    assert t5.columns[0] == (0, tuple(range(0, 9)))  # ▁ c o w ▁ h e a d
    assert t5.columns[1] == (0, tuple(range(9, 24)))  # ▁ l e f t ▁ f r o n t ▁ p a w

    i2t = torch.arange(2 * 3 * 30, dtype=torch.float32).reshape(2, 3, 30)
    maps = class_maps(i2t, plan)
    torch.testing.assert_close(maps[1], i2t[0, :, 3:6].mean(-1))
    torch.testing.assert_close(maps[3], i2t[0, :, 6 + pieces])


def test_names_over_the_text_budget_are_split_or_refused(backbones):
    from partbench.adapters.seg4diff.prompt import plan_prompts

    tokenizers = backbones["sd3"].tokenizers
    names = [f"cow {w}" for w in ("head", "tail", "neck", "torso", "horn")] * 8  # 80 tokens: over CLIP's 75
    plan = plan_prompts(names, tokenizers, 77)
    assert len(plan.prompts) == 2 and [r for r, _ in plan.columns] == [0] * 37 + [1] * 3
    assert plan.columns[37] == (1, (1, 2))  # the second prompt's columns start again after its BOS
    with pytest.raises(PartbenchError, match="overflow=split"):
        plan_prompts(names, tokenizers, 77, overflow="refuse")
    with pytest.raises(PartbenchError, match="cannot be prompted without truncation"):
        plan_prompts(["x" * 80], tokenizers, 77)


# -- MAGNET LoRA --------------------------------------------------------------------------------------------------
def test_magnet_lora_file_loads_into_the_transformer(tmp_path):
    pytest.importorskip("peft")
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from partbench.adapters.seg4diff.lora import load_magnet_lora
    from partbench.tiny_models.sd3_tiny import tiny_sd3_pipeline

    trained = tiny_sd3_pipeline(0).transformer
    trained.add_adapter(LoraConfig(r=4, lora_alpha=16, init_lora_weights="gaussian",
                                   target_modules=["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0"]))
    with torch.no_grad():  # a trained LoRA: lora_B is not zero
        for name, p in trained.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * 0.5)
    state = {f"backbone.transformer.{k.replace('.weight', '.default.weight')}": v
             for k, v in get_peft_model_state_dict(trained).items()}
    state["backbone.transformer.pos_embed.proj.weight"] = torch.zeros(1)  # the checkpoint's other entries
    torch.save({"model": state, "iteration": 10}, tmp_path / "lora_weights.pth")

    fresh = tiny_sd3_pipeline(0).transformer
    x = dict(hidden_states=torch.randn(1, 4, 16, 16), encoder_hidden_states=torch.randn(1, 9, 48),
             pooled_projections=torch.randn(1, 40), timestep=torch.tensor([500.0]), return_dict=False)
    with torch.no_grad():
        base = fresh(**x)[0]
        info = load_magnet_lora(fresh, tmp_path / "lora_weights.pth")
        assert info["modules"] == 4 * 12 and info["rank"] == 4
        torch.testing.assert_close(fresh(**x)[0], trained(**x)[0])
        assert not torch.allclose(fresh(**x)[0], base)
    torch.save({"model": {"backbone.transformer.pos_embed.proj.weight": torch.zeros(1)}}, tmp_path / "none.pth")
    with pytest.raises(PartbenchError, match="no LoRA tensors"):
        load_magnet_lora(tiny_sd3_pipeline(0).transformer, tmp_path / "none.pth")


# -- the method, the sweep, the refusals ---------------------------------------------------------------------------
def _req(demo_root, tmp_path, **kw):
    return dict(method="seg4diff", suite="demo", data_root=demo_root, bootstrap=0, workers=0, limit=3,
                output_root=tmp_path / "runs") | kw


@pytest.mark.parametrize("model", ["sd3", "flux"])
def test_tiny_preset_runs_end_to_end(demo_root, tmp_path, model):
    from partbench.data.images import read_label_png
    from partbench.suites import load_suite

    out = run(RunRequest(**_req(demo_root, tmp_path, method_args={"preset": "tiny", "model": model,
                                                                   "prompt": "gt-present"})))
    assert out.results["meaningful"] is False and out.predicted == 3
    config = out.results["method_config"]
    assert config["options"]["layer"] == {"sd3": 9, "flux": 12}[model] and config["noise"]["index"] == -8
    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    for ref in reader.index("val").refs[:3]:
        sample = reader.load(ref)
        pred = read_label_png(out.run_dir / "predictions" / f"{ref.id}.png")
        present = set(np.unique(sample.part_label_map)) & set(suite.part_ids_of(ref.object_class))
        assert set(np.unique(pred)) - {255} <= present  # gt-present: only the parts in the ground truth


def test_layer_sweep_writes_one_run_per_layer_from_one_forward(demo_root, tmp_path, monkeypatch):
    from partbench.adapters.seg4diff.backbone import Backbone
    from partbench.data.images import read_label_png
    from tests.helpers.cli import invoke

    calls = []
    forward = Backbone.run
    monkeypatch.setattr(Backbone, "run", lambda self, *a, **k: calls.append(a[3]) or forward(self, *a, **k))
    common = ["--suite", "demo", "--data-root", demo_root, "--limit", 2, "--bootstrap", 0, "--workers", 0,
              "--output", tmp_path / "runs", "-a", "preset=tiny"]
    result = invoke("run", "--method", "seg4diff", *common, "-a", "layers=8-9,11")
    assert result.exit_code == 0, result.output
    assert calls == [[8, 9, 11]] * 2  # one forward per sample for the three runs
    folders = sorted(p.name for p in (tmp_path / "runs" / "demo").iterdir())
    assert [f.split("@")[1] for f in folders] == ["layer=11", "layer=8", "layer=9"]
    alone = invoke("run", "--method", "seg4diff", *common, "-a", "layer=9")
    assert alone.exit_code == 0, alone.output
    swept = next((tmp_path / "runs" / "demo").glob("seg4diff@layer=9@*"))
    single = next(p for p in (tmp_path / "runs" / "demo").glob("seg4diff@*") if "layer=" not in p.name)
    for pred in (single / "predictions").glob("*.png"):
        np.testing.assert_array_equal(read_label_png(swept / "predictions" / pred.name), read_label_png(pred))
    again = invoke("run", "--method", "seg4diff@layer=9", *common)  # the same run, named directly: all cached
    assert again.exit_code == 0 and "predicted 0, reused 2" in again.output
    for pred in (swept / "predictions").glob("*.png"):  # a sweep killed in the run of layer 9, then resumed:
        pred.unlink()
    calls.clear()
    resumed = invoke("run", "--method", "seg4diff", *common, "-a", "layers=8-9,11")
    assert resumed.exit_code == 0 and calls == [[9, 11]] * 2  # layer 8 is cached; 9's forward serves 11 too
    table = invoke("table", tmp_path / "runs")
    assert table.exit_code == 0 and "seg4diff@layer=11" in table.output


def test_variants_and_bad_arguments_are_refused(demo_root, tmp_path):
    from partbench.registry import get_method

    info = get_method("seg4diff@layer=9", "segmentation")
    assert info.name == "seg4diff@layer=9" and info.fixed_args == (("layer", "9"),)
    for name, match in (("seg4diff@layer=09", "write layer=9"), ("seg4diff@model=flux", "variant is key=value"),
                        ("clipseg@preset=tiny", "has no variants")):
        with pytest.raises(PartbenchError, match=match):
            get_method(name, "segmentation")
    with pytest.raises(PartbenchError, match="fixes layer"):
        info.check_args({"layer": "3"})
    cases = [({"preset": "tiny", "layer": "40"}, "out of range"),
             ({"preset": "tiny", "guidance": "2"}, "only apply to model=flux"),
             ({"preset": "tiny", "layers": "all"}, "layer sweep"),
             ({"preset": "tiny", "noise_step": "40"}, "beyond a 28-step"),
             ({"preset": "tiny", "prompt": "some"}, "must be one of")]
    for args, match in cases:
        with pytest.raises(PartbenchError, match=match):
            run(RunRequest(**_req(demo_root, tmp_path, method_args=args)))


def test_without_weights_it_refuses_naming_them(demo_root, tmp_path, monkeypatch):
    import huggingface_hub.constants as hc

    from partbench.adapters.seg4diff import status

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(PartbenchError, match="stable-diffusion-3-medium-diffusers.*huggingface-cli download.*gated"):
        run(RunRequest(**_req(demo_root, tmp_path, method_args={})))
    with pytest.raises(PartbenchError, match="FLUX.1-dev.*weights=.*gated"):
        run(RunRequest(**_req(demo_root, tmp_path, method_args={"model": "flux"})))
    with pytest.raises(PartbenchError, match="lacks the folder"):
        (tmp_path / "sd3" / "transformer").mkdir(parents=True)
        (tmp_path / "sd3" / "transformer" / "config.json").write_text('{"num_layers": 24}')
        from partbench.adapters.seg4diff.options import Seg4DiffOptions
        from partbench.adapters.seg4diff.sd3 import SD3Backbone

        SD3Backbone(Seg4DiffOptions(weights=str(tmp_path / "sd3")), 0, "cpu", torch.float32)
    assert any("stable-diffusion-3-medium-diffusers" in m and "gated" in m for m in status())
