"""Every model partbench loads, at its published widths, in bfloat16, through the real code path once.

Tiny presets (tests/methods, tests/adapters) cover behaviour; they are float32 and a few units wide, so they cannot
catch what only real checkpoints meet: dtype mismatches between bf16 components, width assumptions (Qwen3's
attention is wider than its hidden size, CLIPSeg's legacy EOS id), layer indices (Klein stacks hidden states 9, 18
and 27 of 36). Here each model is built from its published config (typed in with sources in
tests/helpers/published_configs.py) with random weights:

- full depth on the meta device (no memory): indices, widths and, for the Klein transformer, a whole forward with
  PartConcepts' attention capture at the GPU recipe's shapes (512 px, 512 text tokens);
- depth cut to what a 2-core CPU runs, in bf16: a PartConcepts training step, checkpoint, segmentation and generation
  and a ConceptAttention `model=flux2` prediction on Klein-4B widths (1 double + 1 single block, 7 Qwen3 layers with
  the stacked layers remapped to 1, 2, 3); a ConceptAttention prediction and a `flux1-dev` image on FLUX.1 widths
  (2 + 1 blocks, 1 T5 and 1 CLIP layer); a CLIPSeg rd64-refined prediction (3 image and 1 text layer, decoder reading
  the last 3); a CLIP score with ViT-L/14 widths (1 + 1 layers). Images are 32 px (2x2 tokens) and text 8-16 tokens:
  neither is a width, and the meta tests cover the real sizes.

Only the loaders are replaced (no weights can be downloaded). This CPU lacks fast bf16 convolution and matmul kernels
(and its bf16 linear backward crawls), so those run in float32 and are rounded back (`bf16_cpu_kernels_in_float32`):
every tensor the code sees keeps its bf16 dtype. On the 2-core build machine (2026-12-06) the file takes 41 s with
the cores to itself and 106 s beside other jobs; peak RSS 4.8 GB (the Klein build, freed before the FLUX.1 one).
benchmarks/gpu_check.py runs the same Klein at full depth on a GPU.
"""

from __future__ import annotations

import gc
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("open_clip")

from helpers import published_configs as pc  # noqa: E402

BF16 = torch.bfloat16


@pytest.fixture(autouse=True)
def _cpu_bf16_kernels():
    with pc.bf16_cpu_kernels_in_float32():
        yield


def _demo_sample(demo_root, n_parts: int = 2):
    """The first demo val sample and a vocabulary allowing only `n_parts` of its object's parts (short prompts)."""
    from partbench.api.types import Vocabulary
    from partbench.suites import load_suite

    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    sample = reader.load(reader.index("val").refs[0])
    vocab = Vocabulary.from_suite(suite)
    allowed = vocab.parts_by_object[sample.object_class][:n_parts]
    return suite, sample, Vocabulary(vocab.classes, vocab.object_classes, {sample.object_class: allowed},
                                     vocab.setting, vocab.ignore_label), allowed


def _billions(module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e9


# -- full depth on the meta device -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", ["4B", "9B"])
def test_klein_indices_widths_and_capture_at_full_depth(size):
    """Klein-4B/9B as published: the PartConcept encoder's layers, the conditioning width, the VAE's token grid, the
    mmDiT LoRA targets and a whole transformer forward with attention capture (25 / 32 maps) at 512 px."""
    from diffusers import Flux2KleinPipeline as P

    from partbench.methods.partconcepts.capture import AttentionCapture
    from partbench.methods.partconcepts.encoder import PartConceptEncoder, apply_partconcept_lora
    from partbench.methods.partconcepts.model import DIT_LORA_TARGETS
    from partbench.methods.partconcepts.presets import PartConceptsConfig
    from partbench.tiny_models.flux2_tiny import tiny_tokenizer

    t_cfg, q_cfg = pc.klein_configs(size)
    text = pc.qwen3_text_encoder(size, dtype=BF16, meta=True)
    # The typed configs give the sizes the model cards state (UNVERIFIED, from memory of the cards): a 4B / 9B
    # rectified-flow transformer; Qwen3-4B "4.0B" and Qwen3-8B "8.2B" parameters.
    assert round(_billions(pc.klein_transformer(size, dtype=BF16, meta=True))) == int(size[:-1])
    assert round(_billions(text), 1) == {"4B": 4.0, "9B": 8.2}[size]
    apply_partconcept_lora(text, pc.KLEIN_TEXT_LAYERS, PartConceptsConfig().concept_lora_rank)
    lora_layers = {int(n.split("layers.")[1].split(".")[0]) for n, _ in text.named_parameters() if "lora_" in n}
    assert lora_layers == {27, 28, 29}  # 0-based decoder layers L..L+2 = hidden states 28..30 (L = 27)
    encoder = PartConceptEncoder(text, tiny_tokenizer(), pc.KLEIN_TEXT_LAYERS, pc.KLEIN_MAX_SEQUENCE_LENGTH)
    assert encoder.part_layers == (28, 29, 30) and max(encoder.part_layers) < q_cfg["num_hidden_layers"]
    ids = torch.zeros(1, 8, dtype=torch.long, device="meta")
    with torch.no_grad():
        # a prepared (empty) mask: building one reads values, which meta tensors have none of
        hidden = text.base_model(input_ids=ids, attention_mask={"full_attention": None}, output_hidden_states=True,
                                 use_cache=False).hidden_states
    assert len(hidden) == q_cfg["num_hidden_layers"] + 1 and hidden[30].shape[-1] == q_cfg["hidden_size"]
    # Base conditioning and PartConcept tokens are both three stacked hidden states: the mmDiT's text width.
    assert len(pc.KLEIN_TEXT_LAYERS) * q_cfg["hidden_size"] == t_cfg["joint_attention_dim"]

    vae = pc.flux2_vae(dtype=BF16, meta=True)
    with torch.no_grad():
        latents = P._patchify_latents(vae.encode(torch.empty(1, 3, 512, 512, device="meta", dtype=BF16))
                                      .latent_dist.mode())
    assert latents.shape == (1, t_cfg["in_channels"], 32, 32)  # 16 px per token
    assert 2 * 2 ** (len(pc.FLUX2_VAE["block_out_channels"]) - 1) == 16  # PartConceptsModel.token_stride

    from peft import LoraConfig, inject_adapter_in_model

    transformer = pc.klein_transformer(size, dtype=BF16, meta=True)
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=4, target_modules=DIT_LORA_TARGETS), transformer)
    wrapped = {n.rsplit(".lora_A", 1)[0] for n, _ in transformer.named_modules() if n.endswith(".lora_A")}
    assert len(wrapped) == 8 * t_cfg["num_layers"] + 2 * t_cfg["num_single_layers"]
    capture = AttentionCapture(transformer, "all")
    assert len(capture.layers) == t_cfg["num_layers"] + t_cfg["num_single_layers"]
    B, T, C = 2, pc.KLEIN_MAX_SEQUENCE_LENGTH, 3
    x = torch.empty(B, t_cfg["in_channels"], 32, 32, device="meta", dtype=BF16)
    embeds = torch.empty(B, T, t_cfg["joint_attention_dim"], device="meta", dtype=BF16)
    with torch.no_grad(), capture.recording(torch.tensor([[5, 9, 20], [7, 8, 30]]), T) as rec:
        velocity = transformer(hidden_states=P._pack_latents(x), timestep=torch.empty(B, device="meta", dtype=BF16),
                               guidance=None, encoder_hidden_states=embeds, txt_ids=P._prepare_text_ids(embeds),
                               img_ids=P._prepare_latent_ids(x), return_dict=False)[0]
    assert velocity.shape == (B, 1024, t_cfg["in_channels"]) and velocity.dtype == BF16
    assert len(rec.maps) == len(capture.layers) and {m.shape for m in rec.maps} == {(B, C, 1024)}


def test_conceptattention_clipseg_and_clip_at_full_depth():
    """ConceptAttention's default blocks on the published depths, with the concept stream run through them (FLUX.1
    and Klein-4B, 1024 image tokens), FLUX.1's widths against its text encoders and VAE, a CLIPSeg forward at
    352 px reading layers 3, 6 and 9, and ViT-L/14's config as open_clip ships it."""
    import open_clip
    from diffusers import Flux2KleinPipeline, FluxPipeline
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

    from partbench.adapters.conceptattention import flux1_stream, flux2_stream
    from partbench.adapters.conceptattention.options import ConceptAttentionOptions

    def meta(*shape):
        return torch.empty(*shape, device="meta", dtype=BF16)

    B, C, T = 2, 4, 256
    flux1 = pc.flux1_components("schnell", double_blocks=None, single_blocks=None, t5_layers=None, clip_layers=None,
                                meta=True)
    assert round(_billions(flux1.transformer)) == 12  # "a 12 billion parameter rectified flow transformer" (card)
    t = pc.FLUX1_SCHNELL_TRANSFORMER
    assert t["joint_attention_dim"] == flux1.text_encoder_2.config.d_model == 4096
    assert t["pooled_projection_dim"] == flux1.text_encoder.config.hidden_size == 768
    assert t["in_channels"] == 4 * flux1.vae.config.latent_channels  # 2x2 packing
    layers = ConceptAttentionOptions().layer_indices(len(flux1.transformer.transformer_blocks))
    assert layers == [15, 16, 17, 18]  # the reference's last 4 of 19 double blocks
    inputs = flux1_stream.StreamInputs(
        latents=meta(B, 1024, t["in_channels"]),
        img_ids=FluxPipeline._prepare_latent_image_ids(B, 32, 32, "meta", BF16), prompt_embeds=meta(B, T, 4096),
        txt_ids=meta(T, 3), pooled=meta(B, 768), concept_embeds=meta(B, C, 4096), concept_pooled=meta(B, 768),
        timestep=meta(B))
    out = flux1_stream.concept_stream(flux1.transformer, inputs, layers)
    assert sorted(out.scores) == layers and {s.shape for s in out.scores.values()} == {(B, C, 1024)}

    klein = pc.klein_transformer("4B", dtype=BF16, meta=True)
    layers = ConceptAttentionOptions(model="flux2").layer_indices(len(klein.transformer_blocks))
    assert layers == [2, 3, 4]  # the FLUX.2 port's last 3 (of Klein-4B's 5; FLUX.2-dev's [5, 6, 7] of 8)
    assert ConceptAttentionOptions(model="flux2").layer_indices(pc.KLEIN_9B_TRANSFORMER["num_layers"]) == [5, 6, 7]
    x, embeds = meta(B, 128, 32, 32), meta(B, 512, pc.KLEIN_4B_TRANSFORMER["joint_attention_dim"])
    inputs = flux2_stream.Flux2StreamInputs(
        latents=Flux2KleinPipeline._pack_latents(x), img_ids=Flux2KleinPipeline._prepare_latent_ids(x)[0],
        prompt_embeds=embeds, txt_ids=Flux2KleinPipeline._prepare_text_ids(embeds)[0],
        concept_embeds=meta(B, C, embeds.shape[-1]), timestep=meta(B))
    out = flux2_stream.concept_stream(klein, inputs, layers)
    assert sorted(out.scores) == layers and {s.shape for s in out.scores.values()} == {(B, C, 1024)}

    cfg = pc.clipseg_config()
    assert max(cfg["extract_layers"]) < cfg["vision_config"]["num_hidden_layers"]
    assert cfg["text_config"]["eos_token_id"] == 2  # legacy id: pooling takes argmax(input_ids), the real EOS 49407
    clipseg = pc.build(lambda: CLIPSegForImageSegmentation(CLIPSegConfig(**cfg)), dtype=BF16, meta=True)
    size = pc.CLIPSEG_IMAGE_SIZE
    with torch.no_grad():
        logits = clipseg(input_ids=torch.zeros(B, 7, dtype=torch.long, device="meta"),
                         pixel_values=meta(B, 3, size, size)).logits
    assert logits.shape == (B, size, size)  # 22x22 patches, complex transposed convolution back to 352

    assert open_clip.get_model_config("ViT-L-14") == pc.OPEN_CLIP_VIT_L14


# -- depth cut, bf16, the real code path ------------------------------------------------------------------------------
def _lora_moved(state: dict, prefix: str) -> bool:
    return any(k.startswith(prefix) and "lora_B" in k and v.float().abs().sum() > 0 for k, v in state.items())


@pytest.fixture(scope="class")
def klein():
    """The parameters of one Klein-4B-wide build (random, bf16); each test builds its modules around these tensors
    (no new random draws: building is then instant), and they are freed after the class."""
    weights = pc.component_weights(pc.klein_components())
    yield weights
    del weights
    gc.collect()


class TestKlein:
    def test_partconcepts_trains_segments_and_generates(self, demo_root, tmp_path, monkeypatch, klein):
        """Klein-4B widths (3072-wide mmDiT with 24 heads, Qwen3-4B text encoder, 32-channel VAE), bf16: two
        training steps through `train` (Dice + flow, LoRAs on the text encoder and the mmDiT), the checkpoint
        reloaded by the `partconcepts` method, a segmentation and a generated image."""
        from safetensors.torch import load_file

        from partbench.api.types import PromptItem
        from partbench.methods.partconcepts import checkpoint as ckpt
        from partbench.methods.partconcepts import model as model_module
        from partbench.methods.partconcepts.method import PartConcepts
        from partbench.methods.partconcepts.presets import PartConceptsConfig
        from partbench.methods.partconcepts.train import TrainOptions, train

        def build_components(config):  # presets.build_components for a Klein that cannot be downloaded
            assert config.preset == "klein" and config.dtype == "bfloat16"
            return pc.klein_components(weights=klein)

        monkeypatch.setattr(model_module, "build_components", build_components)
        config = PartConceptsConfig.for_preset("klein", base_model="real-shape Klein-4B", dtype="bfloat16",
                                               resolution=32)
        out = tmp_path / "pc"
        opts = TrainOptions.for_preset("demo", demo_root, out, config, steps=2, batch_size=1, grad_accum=1, warmup=0,
                                       limit_samples=2, max_parts=2, save_every=0, device="cpu")
        # the klein recipe's settings: streamed crops, checkpointed blocks, bf16 autocast over fp32 master weights
        assert (opts.latent_cache, opts.gradient_checkpointing, opts.mixed_precision) == ("none", True, "bf16")
        result = train(opts)
        assert result.step == 2 and all(math.isfinite(v) for h in result.losses for v in h.values())
        state = load_file(str(out / ckpt.SUBDIR / ckpt.WEIGHTS))
        assert all(torch.isfinite(v.float()).all() for v in state.values())
        lora = {k: v for k, v in state.items() if "lora_" in k}
        assert lora and all(v.dtype == torch.float32 for v in lora.values())  # the masters, not bf16 copies
        # Both LoRAs got gradients through the bf16 Qwen3 and mmDiT at real widths: Adam moved their B matrices.
        assert _lora_moved(state, "text_encoder.") and _lora_moved(state, "transformer.")
        del result, state
        gc.collect()

        suite, sample, vocab, allowed = _demo_sample(demo_root)
        method = PartConcepts(suite, demo_root, {"checkpoint": str(out), "device": "cpu", "batch_size": "1",
                                                 "steps": "2"})
        assert method.model.transformer.dtype == BF16 and method.model.text_encoder.dtype == BF16
        probs = method.predict_probabilities([sample], vocab)[0]
        assert probs.shape == (len(vocab.classes), *sample.size) and np.isfinite(probs).all()
        asked = np.zeros(len(vocab.classes), dtype=bool)
        asked[list(allowed)] = True
        assert probs[~asked].max() == 0 and probs[asked].max() > 0 and probs.max() <= 1

        image = method.generate([PromptItem("p0", "a photo of a cow with a red head", "cow", "head")], [0])[0]
        assert image.size == (config.resolution, config.resolution)
        assert np.asarray(image).std() > 0  # decoded from bf16 latents, not a blank canvas

    def test_conceptattention_flux2_predicts(self, demo_root, tmp_path, monkeypatch, klein):
        """ConceptAttention `model=flux2` on Klein-4B widths in bf16: Qwen3 concept and caption embeddings, the
        concept stream beside the stock double block, one prediction."""
        from partbench.adapters.conceptattention import method as ca
        from partbench.adapters.conceptattention.flux2 import Flux2Backend

        def load_components(options, dtype):
            assert dtype == BF16
            return pc.klein_components(weights=klein, max_sequence_length=options.max_sequence_length)

        monkeypatch.setattr(Flux2Backend, "load_components", staticmethod(load_components))
        suite, sample, vocab, allowed = _demo_sample(demo_root)
        args = {"model": "flux2", "weights": str(tmp_path), "dtype": "bfloat16", "device": "cpu", "resolution": "32",
                "max_sequence_length": "16", "background": "background", "prompt": "a photo of a {object}"}
        method = ca.ConceptAttention(suite, demo_root, args)
        assert method.backend.layers == [0]  # last3 of the 1 block kept
        prediction = method.predict([sample], vocab)[0]
        assert prediction.shape == sample.size and set(np.unique(prediction)) <= set(allowed)


@pytest.fixture(scope="class")
def flux1():
    components = pc.flux1_components("dev")
    yield components
    del components
    gc.collect()


class TestFlux1:
    def test_conceptattention_predicts_at_flux1_widths(self, demo_root, tmp_path, monkeypatch, flux1):
        """FLUX.1 widths (3072-wide double blocks, T5-XXL 4096, CLIP-L pooled vector, 16-channel VAE), bf16,
        guidance-distilled (dev): ConceptAttention's concept stream beside the stock blocks, one prediction."""
        from partbench.adapters.conceptattention import method as ca
        from partbench.adapters.conceptattention.flux1 import Flux1Backend

        loads = []

        def load_components(options, dtype):
            loads.append(dtype)
            return flux1

        monkeypatch.setattr(Flux1Backend, "load_components", staticmethod(load_components))
        suite, sample, vocab, allowed = _demo_sample(demo_root)
        args = {"weights": str(tmp_path), "dtype": "bfloat16", "device": "cpu", "resolution": "32",
                "max_sequence_length": "8", "background": "background", "prompt": "a photo of a {object}",
                "pooled": "clip"}
        method = ca.ConceptAttention(suite, demo_root, args)
        assert loads == [BF16] and method.backend.layers == [0, 1]  # last4 of the 2 blocks kept
        maps = method.scores(sample.image, ["cow head", "cow tail", "background"], "a photo of a cow")
        assert maps.shape == (3, 2, 2) and torch.isfinite(maps).all()
        prediction = method.predict([sample], vocab)[0]
        assert prediction.shape == sample.size and set(np.unique(prediction)) <= set(allowed)

    def test_flux1_dev_generates_at_flux1_widths(self, tmp_path, monkeypatch, flux1):
        """`flux1-dev` through FluxPipeline at FLUX.1 widths in bf16 (CLIP-L pooled vector, T5-XXL, guidance)."""
        from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

        from partbench.adapters.flux_t2i import Flux1Dev
        from partbench.api.types import PromptItem

        class Loader:
            @staticmethod
            def from_pretrained(path, torch_dtype, local_files_only):
                assert torch_dtype == BF16 and local_files_only
                return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**pc.FLUX1_DEV_SCHEDULER),
                                    vae=flux1.vae, text_encoder=flux1.text_encoder, tokenizer=flux1.tokenizer,
                                    text_encoder_2=flux1.text_encoder_2, tokenizer_2=flux1.tokenizer_2,
                                    transformer=flux1.transformer)

        monkeypatch.setattr(Flux1Dev, "_pipeline_class", staticmethod(lambda: Loader))
        method = Flux1Dev(None, tmp_path, {"weights": str(tmp_path), "dtype": "bfloat16", "device": "cpu",
                                           "steps": "2", "height": "32", "width": "32", "max_sequence_length": "8"})
        image = method.generate([PromptItem("p0", "a photo of a cow with a red head")], [0])[0]
        assert image.size == (32, 32) and np.asarray(image).std() > 0


def test_clipseg_predicts_at_rd64_refined_widths(demo_root, tmp_path, monkeypatch):
    """CLIPSeg rd64-refined widths (ViT-B/16 image tower at 352 px, 512-wide text, rd64 decoder with the complex
    transposed convolution), loaded in float32 and cast to bf16 as the adapter does, with the real CLIP BPE
    tokenizer (the legacy EOS id 2 pools at argmax(input_ids))."""
    from helpers.generation import tiny_hf_clip
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, CLIPTokenizer

    from partbench.adapters import clipseg

    model = pc.build(lambda: CLIPSegForImageSegmentation(CLIPSegConfig(**pc.clipseg_config(3, 1))))
    tokenizer = CLIPTokenizer.from_pretrained(tiny_hf_clip(tmp_path / "clip"))
    processor = CLIPSegProcessor(image_processor=clipseg.image_processor(pc.CLIPSEG_IMAGE_SIZE), tokenizer=tokenizer)
    monkeypatch.setattr(clipseg.ClipSeg, "_load", staticmethod(lambda options: (model, processor)))
    suite, sample, vocab, allowed = _demo_sample(demo_root)
    method = clipseg.ClipSeg(suite, demo_root, {"weights": str(tmp_path), "dtype": "bfloat16", "device": "cpu"})
    assert method.model.dtype == BF16
    prediction = method.predict([sample], vocab)[0]
    assert prediction.shape == sample.size and set(np.unique(prediction)) <= set(allowed)


def test_clip_score_at_vit_l14_widths(tmp_path):
    """The CLIP score with OpenAI ViT-L/14's widths (1024-wide vision tower, patch 14 at 224 px, 768-wide text) in
    bf16 through open_clip, as `clip_dtype=bfloat16` runs it."""
    import open_clip
    from PIL import Image

    from partbench.metrics.clip_score import ClipScorer, ClipSpec

    config = tmp_path / "real-shape-vit-l-14.json"
    config.write_text(json.dumps(pc.open_clip_vit_l14(vision_layers=1, text_layers=1)))
    open_clip.add_model_config(config)
    weights = tmp_path / "real-shape-vit-l-14.bin"
    torch.manual_seed(0)
    torch.save(open_clip.create_model(config.stem, pretrained=None).state_dict(), weights)
    spec = ClipSpec(model=str(config), pretrained=str(weights), dtype="bfloat16", batch_size=2)
    scorer = ClipScorer(spec)
    assert scorer.model.visual.conv1.weight.dtype == BF16
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)) for _ in range(2)]
    cos = scorer.cosines(images, ["a photo of a cow", "a figure with a raised left arm"])
    assert cos.shape == (2,) and np.isfinite(cos).all() and np.abs(cos).max() <= 1
    assert spec.fingerprint() != ClipSpec(model=str(config), pretrained=str(weights)).fingerprint()


def test_gpu_check_refuses_without_cuda(monkeypatch, capsys):
    """benchmarks/gpu_check.py times the full-size Klein on a GPU; without CUDA it says so and exits non-zero."""
    from benchmarks import gpu_check

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 2
    assert "no CUDA device" in capsys.readouterr().err
