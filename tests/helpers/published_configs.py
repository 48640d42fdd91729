"""The published configurations of every model partbench loads, typed in with their sources, and builders that make
them at their real widths (depth cut to what a 2-core CPU runs) with random weights, or at full depth on the meta
device (shapes and indices only, no memory). Used by tests/models/test_real_shapes.py and benchmarks/gpu_check.py.

Nothing here downloads: the values were read from the files named next to them (or from copies of them, as said),
and what could not be read is marked UNVERIFIED. Sequence lengths, vocabularies of the in-memory tokenizers and image
sizes are not widths; the callers choose them.
"""

from __future__ import annotations

import contextlib
import zlib
from typing import Any

# -- FLUX.2 Klein (PartConcepts' base model; ConceptAttention `model=flux2`; `flux2-klein`) ----------------------------
# Klein-4B transformer/config.json. Read from a copy of black-forest-labs/FLUX.2-klein-base-4B's diffusers config
# (huggingface.co/YuCollection/FLUX.2-klein-base-4B-Diffusers, transformer/config.json, diffusers 0.37.0.dev0).
# The distilled FLUX.2-klein-4B's own file was not read (UNVERIFIED that it is identical; base and distilled share the
# architecture, and mflux, iris.c and diffusers-based ports describe the same 5 double + 20 single blocks, 24 heads).
KLEIN_4B_TRANSFORMER: dict[str, Any] = dict(
    patch_size=1, in_channels=128, out_channels=None, num_layers=5, num_single_layers=20, attention_head_dim=128,
    num_attention_heads=24, joint_attention_dim=7680, timestep_guidance_channels=256, mlp_ratio=3.0,
    axes_dims_rope=(32, 32, 32, 32), rope_theta=2000, eps=1e-6, guidance_embeds=False)
# Klein-9B (the paper's base model): the same with 8 double + 24 single blocks, 32 heads and 3 x 4096 text width.
# UNVERIFIED: BFL's file was not read; the values are those of third-party code quoting BFL flux2 `Klein9BParams`
# (src/flux2/model.py), a diffusers config dict for FLUX.2-klein-9B (diffusers 0.37.0.dev0) and a trainer's Klein
# model table, which agree.
KLEIN_9B_TRANSFORMER: dict[str, Any] = KLEIN_4B_TRANSFORMER | dict(
    num_layers=8, num_single_layers=24, num_attention_heads=32, joint_attention_dim=12288)
# Klein's text encoders: Qwen3ForCausalLM. Qwen3-4B (Klein-4B): Qwen/Qwen3-4B config.json; hidden, FFN, layers,
# heads, KV heads, head dim, vocabulary, RoPE base and eps read from Megatron model arguments mirroring it
# (scripts/models/qwen3-4B.sh in the slime copies zyzshishui/slime and molumolua/RLVE), max_position_embeddings from
# a Z-Image port's Qwen3-4B text-encoder config; tie_word_embeddings=True is UNVERIFIED (from memory of the file).
# Klein's own text_encoder/config.json was not read (UNVERIFIED that it is Qwen3-4B's unchanged; a trainer's Klein
# model table overrides exactly hidden 2560 / FFN 9728 for 4B and hidden 4096 for 9B).
QWEN3_4B: dict[str, Any] = dict(
    vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6, rope_theta=1_000_000.0, max_position_embeddings=40960,
    tie_word_embeddings=True, hidden_act="silu", attention_bias=False)
# Qwen3-8B (Klein-9B): Qwen/Qwen3-8B config.json, read from a verbatim copy in a third-party report.
QWEN3_8B: dict[str, Any] = QWEN3_4B | dict(hidden_size=4096, intermediate_size=12288, tie_word_embeddings=False)
# Flux2KleinPipeline: hidden states (9, 18, 27) stacked as the conditioning (diffusers pipeline_flux2_klein.py
# default `text_encoder_out_layers`; also mflux and mlx-flux2 TEXT_ENCODER_OUTPUT_LAYERS), max_sequence_length 512.
KLEIN_TEXT_LAYERS = (9, 18, 27)
KLEIN_MAX_SEQUENCE_LENGTH = 512
# FLUX.2 VAE (AutoencoderKLFlux2), black-forest-labs/FLUX.2-klein-4B vae/config.json, read from a copy whose
# _name_or_path is the Klein-4B snapshot e7b7dc27 (huggingface.co/codeShare/Flux-Klein-SDNQ-4bit); klein-base-9B's
# and FLUX.2-dev's copies are the same.
FLUX2_VAE: dict[str, Any] = dict(
    in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
    act_fn="silu", latent_channels=32, norm_num_groups=32, sample_size=1024, use_quant_conv=True,
    use_post_quant_conv=True, mid_block_add_attention=True, batch_norm_eps=1e-4, batch_norm_momentum=0.1,
    patch_size=(2, 2))

# -- FLUX.1 (ConceptAttention's default model; `flux1-dev`) ----------------------------------------------------------
# black-forest-labs/FLUX.1-schnell transformer/config.json (a copy with that _name_or_path: huggingface.co/ChicFusion/
# extra0itra0); FLUX.1-dev's (copy with the dev snapshot path: reshamgaire/flux-dev-orignal) differs only in
# guidance_embeds=True.
FLUX1_SCHNELL_TRANSFORMER: dict[str, Any] = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=False, axes_dims_rope=(16, 56, 56))
FLUX1_DEV_TRANSFORMER: dict[str, Any] = FLUX1_SCHNELL_TRANSFORMER | dict(guidance_embeds=True)
# FLUX.1 VAE (AutoencoderKL), FLUX.1-schnell vae/config.json (a copy with the schnell snapshot path:
# huggingface.co/mlgawd/flux_8bit_pipe).
FLUX1_VAE: dict[str, Any] = dict(
    in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
    act_fn="silu", latent_channels=16, norm_num_groups=32, sample_size=1024, shift_factor=0.1159,
    scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=True,
    force_upcast=True)
# FLUX.1-dev scheduler/scheduler_config.json (FlowMatchEulerDiscreteScheduler with dynamic shifting): UNVERIFIED,
# from memory of the file (FluxPipeline needs use_dynamic_shifting for the `mu` it passes). Not a width.
FLUX1_DEV_SCHEDULER: dict[str, Any] = dict(
    num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
    base_image_seq_len=256, max_image_seq_len=4096)
# FLUX.1 text_encoder_2: T5 v1.1 XXL encoder (google/t5-v1_1-xxl config.json as FLUX.1 ships it), read from the
# T5_CONFIG_JSON copy in kohya-ss sd-scripts' FLUX loader and SD3's reference T5_CONFIG.
T5_XXL: dict[str, Any] = dict(
    vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu",
    dense_act_fn="gelu_new", is_gated_act=True, layer_norm_epsilon=1e-6, relative_attention_num_buckets=32,
    relative_attention_max_distance=128, tie_word_embeddings=False)
# FLUX.1 text_encoder: CLIP ViT-L/14's text tower (openai/clip-vit-large-patch14), the pooled vector (768 =
# pooled_projection_dim). Read from SD3's reference CLIPL_CONFIG; max_position_embeddings 77 and projection 768
# UNVERIFIED (from memory).
CLIP_L_TEXT: dict[str, Any] = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu")

# -- CLIPSeg rd64-refined ----------------------------------------------------------------------------------------------
# CIDAS/clipseg-rd64-refined config.json (a verbatim copy: huggingface.co/Xenova/clipseg-rd64-refined, _name_or_path
# CIDAS/clipseg-rd64-refined). The file sets only patch_size and the legacy text bos/eos ids (0/2) in the towers; the
# rest of the towers are CLIPSegTextConfig/CLIPSegVisionConfig defaults (transformers 5.25 configuration_clipseg.py):
# a ViT-B/16 image tower at 224 px and a 512-wide text tower.
CLIPSEG_RD64_REFINED: dict[str, Any] = dict(
    text_config=dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                     num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=0,
                     eos_token_id=2),
    vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                       image_size=224, patch_size=16, hidden_act="quick_gelu"),
    projection_dim=512, extract_layers=[3, 6, 9], reduce_dim=64, decoder_num_attention_heads=4,
    decoder_intermediate_size=2048, decoder_hidden_act="quick_gelu", conditional_layer=0,
    use_complex_transposed_convolution=True, logit_scale_init_value=2.6592)
CLIPSEG_IMAGE_SIZE = 352  # preprocessor_config.json (adapters/clipseg.py)

# -- CLIP score: OpenAI ViT-L/14 through open_clip -------------------------------------------------------------------
# open_clip 3.3.0 src/open_clip/model_configs/ViT-L-14.json (installed; the test compares); the `openai` tag adds
# QuickGELU (open_clip pretrained.py).
OPEN_CLIP_VIT_L14: dict[str, Any] = {
    "embed_dim": 768,
    "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12},
}

_BLOCK = (1 << 20) + 7  # length of the random block weights are tiled from (odd: rows of any width differ)


@contextlib.contextmanager
def empty_init(dtype=None):
    """Build modules with their parameters on the meta device (buffers real, so BatchNorm statistics, RoPE tables
    and position ids are what the constructor makes), under `dtype` as the default dtype (as `from_pretrained(
    torch_dtype=...)` builds them)."""
    import torch
    from accelerate import init_empty_weights

    previous = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)
    try:
        with init_empty_weights(include_buffers=False):
            yield
    finally:
        torch.set_default_dtype(previous)


def materialize(module, seed: int = 0, device: str = "cpu", std: float = 0.02, weights: dict | None = None):
    """Give every meta parameter of `module` random values on `device`, keeping its dtype and tied parameters tied
    (or the tensor of the same name in `weights`, shared, not copied: another build of the same model).

    Matrices and kernels are N(0, std) values tiled from one random block, offset per parameter name (filling
    billions of weights from a generator would take minutes on the build machine; the tiling only copies); 1-D
    `weight`s (norm scales) are 1 and other vectors (biases, class embeddings) are 0, so activations keep their
    scale through depth, as a trained model's do. Buffers move to `device` unchanged."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(_BLOCK, generator=gen) * std
    blocks: dict[Any, torch.Tensor] = {}
    memo: dict[int, torch.nn.Parameter] = {}
    for prefix, sub in module.named_modules():
        for name, p in list(sub._parameters.items()):
            if p is None:
                continue
            full = f"{prefix}.{name}" if prefix else name
            if id(p) not in memo:
                if p.device.type != "meta":
                    memo[id(p)] = p
                elif weights is not None and full in weights:
                    memo[id(p)] = torch.nn.Parameter(weights[full], requires_grad=p.requires_grad)
                else:
                    t = torch.empty(p.shape, dtype=p.dtype, device=device)
                    if t.ndim <= 1:
                        t.fill_(1.0 if name == "weight" else 0.0)
                    else:
                        key = (t.dtype, t.device)
                        if key not in blocks:
                            b = base.to(device=device, dtype=t.dtype)
                            blocks[key] = torch.cat([b, b])
                        block, flat = blocks[key], t.view(-1)
                        offset = zlib.crc32(full.encode()) % _BLOCK
                        rows = flat.numel() // _BLOCK  # one broadcast copy, not a loop (fast on 2 cores)
                        flat[:rows * _BLOCK].view(rows, _BLOCK).copy_(block[offset:offset + _BLOCK].expand(rows, -1))
                        flat[rows * _BLOCK:].copy_(block[offset:offset + flat.numel() - rows * _BLOCK])
                    memo[id(p)] = torch.nn.Parameter(t, requires_grad=p.requires_grad)
            sub._parameters[name] = memo[id(p)]
    return module.to(device)


def build(factory, *, dtype=None, device: str = "cpu", seed: int = 0, meta: bool = False, weights: dict | None = None):
    """`factory()` built with empty parameters under `dtype`, then materialised on `device` (or left on the meta
    device with `meta=True`: every parameter, for shape checks)."""
    with empty_init(dtype):
        module = factory()
    if hasattr(module, "tie_weights"):  # transformers ties embeddings when it loads weights; tie them here too
        module.tie_weights()
    if meta:
        return module
    return materialize(module, seed=seed, device=device, weights=weights).eval()


def _depth(cfg: dict[str, Any], double_blocks: int | None, single_blocks: int | None) -> dict[str, Any]:
    """A FLUX transformer config with its double/single block counts replaced (None keeps the published one)."""
    cut = {"num_layers": double_blocks, "num_single_layers": single_blocks}
    return cfg | {k: v for k, v in cut.items() if v is not None}


# -- FLUX.2 Klein --------------------------------------------------------------------------------------------------
def klein_configs(size: str = "4B") -> tuple[dict[str, Any], dict[str, Any]]:
    """(transformer config, Qwen3 config) of Klein-4B or Klein-9B."""
    if size not in ("4B", "9B"):
        raise ValueError(f"Klein size must be 4B or 9B, got {size!r}")
    return (KLEIN_4B_TRANSFORMER, QWEN3_4B) if size == "4B" else (KLEIN_9B_TRANSFORMER, QWEN3_8B)


def klein_transformer(size: str = "4B", double_blocks: int | None = None, single_blocks: int | None = None, **kw):
    from diffusers import Flux2Transformer2DModel

    cfg, _ = klein_configs(size)
    cfg = _depth(cfg, double_blocks, single_blocks)
    return build(lambda: Flux2Transformer2DModel(**cfg), **kw)


def qwen3_text_encoder(size: str = "4B", layers: int | None = None, pad_token_id: int = 0, **kw):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    _, cfg = klein_configs(size)
    cfg = cfg | ({"num_hidden_layers": layers} if layers else {})
    return build(lambda: Qwen3ForCausalLM(Qwen3Config(**cfg, pad_token_id=pad_token_id)), **kw)


def flux2_vae(**kw):
    from diffusers import AutoencoderKLFlux2

    return build(lambda: AutoencoderKLFlux2(**FLUX2_VAE), **kw)


def klein_components(size: str = "4B", *, double_blocks: int | None = 1, single_blocks: int | None = 1,
                     text_layers: int | None = 7, base_layers: tuple[int, ...] = (1, 2, 3),
                     max_sequence_length: int = 16, device: str = "cpu", seed: int = 0,
                     weights: dict[str, dict] | None = None):
    """A Klein at its published widths in bfloat16 with random weights, as PartConcepts' `Flux2Components`.

    Depth cut (defaults, for a CPU): 1 double + 1 single block, 7 Qwen3 layers with the stacked layers remapped from
    (9, 18, 27) to (1, 2, 3), so the PartConcept encoder's layers (the three after the deepest) are 3..5 and one more
    layer follows, as 28..30 are followed by 31..35 in the real encoder (the last hidden state is the normed one).
    `None` keeps the published depth (then pass base_layers=KLEIN_TEXT_LAYERS). The tokenizer is the tiny preset's
    in-memory one (its ids fall inside Qwen's vocabulary); the real one is a download. `weights` (from
    `component_weights` of an earlier build) shares that build's tensors instead of drawing new ones."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler

    from partbench.tiny_models.flux2_tiny import Flux2Components, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    kw = {"dtype": torch.bfloat16, "device": device}
    weights = weights or {}
    transformer = klein_transformer(size, double_blocks, single_blocks, seed=seed, weights=weights.get("transformer"),
                                    **kw)
    text_encoder = qwen3_text_encoder(size, text_layers, pad_token_id=tokenizer.pad_token_id, seed=seed + 1,
                                      weights=weights.get("text_encoder"), **kw)
    vae = flux2_vae(seed=seed + 2, weights=weights.get("vae"), **kw)
    described = {"preset": "klein", "base_model": f"real-shape random Klein-{size}", "dtype": "bfloat16",
                 "depth": {"double": len(transformer.transformer_blocks),
                           "single": len(transformer.single_transformer_blocks),
                           "text_layers": text_encoder.config.num_hidden_layers}, "base_layers": list(base_layers)}
    return Flux2Components(transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                           scheduler=FlowMatchEulerDiscreteScheduler(), base_layers=tuple(base_layers),
                           max_sequence_length=max_sequence_length, preset="klein", description=described)


def component_weights(components, names=("transformer", "text_encoder", "vae")) -> dict[str, dict]:
    """The parameters of a build's modules by name (take them before LoRAs are injected, which renames them)."""
    return {n: {k: p.detach() for k, p in getattr(components, n).named_parameters()} for n in names}


# -- FLUX.1 ----------------------------------------------------------------------------------------------------------
def flux1_components(variant: str = "dev", *, double_blocks: int | None = 2, single_blocks: int | None = 1,
                     t5_layers: int | None = 1, clip_layers: int | None = 1, max_sequence_length: int = 8,
                     device: str = "cpu", seed: int = 0, meta: bool = False):
    """FLUX.1 at its published widths in bfloat16 (transformer, VAE, T5-XXL encoder, CLIP-L text), as
    `Flux1Components`; depth cut by default (2 double + 1 single blocks, 1 T5 and 1 CLIP layer). Tokenizers: the
    tiny preset's in-memory ones (ids inside both vocabularies)."""
    import torch
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from partbench.tiny_models.flux1_tiny import Flux1Components, tiny_clip_tokenizer, tiny_t5_tokenizer

    cfg = FLUX1_DEV_TRANSFORMER if variant == "dev" else FLUX1_SCHNELL_TRANSFORMER
    cfg = _depth(cfg, double_blocks, single_blocks)
    t5_tok, clip_tok = tiny_t5_tokenizer(), tiny_clip_tokenizer()
    clip_tok.model_max_length = CLIP_L_TEXT["max_position_embeddings"]  # FluxPipeline pads CLIP text to it
    t5_cfg = T5_XXL | ({"num_layers": t5_layers} if t5_layers else {})
    clip_cfg = CLIP_L_TEXT | ({"num_hidden_layers": clip_layers} if clip_layers else {})
    kw = {"dtype": torch.bfloat16, "device": device, "meta": meta}
    return Flux1Components(
        transformer=build(lambda: FluxTransformer2DModel(**cfg), seed=seed, **kw),
        vae=build(lambda: AutoencoderKL(**FLUX1_VAE), seed=seed + 1, **kw),
        text_encoder_2=build(lambda: T5EncoderModel(T5Config(**t5_cfg, decoder_start_token_id=0, pad_token_id=0,
                                                             eos_token_id=1)), seed=seed + 2, **kw),
        tokenizer_2=t5_tok,
        text_encoder=build(lambda: CLIPTextModel(CLIPTextConfig(
            **clip_cfg, bos_token_id=clip_tok.bos_token_id, eos_token_id=clip_tok.eos_token_id,
            pad_token_id=clip_tok.pad_token_id)), seed=seed + 3, **kw),
        tokenizer=clip_tok, max_sequence_length=max_sequence_length)


# -- CLIPSeg and CLIP --------------------------------------------------------------------------------------------------
def clipseg_config(vision_layers: int | None = None, text_layers: int | None = None) -> dict[str, Any]:
    """CLIPSeg rd64-refined's config; with `vision_layers` the image tower is cut to that depth and the decoder reads
    its last len(extract_layers) layers instead of 3, 6 and 9 (0-based)."""
    import copy

    cfg = copy.deepcopy(CLIPSEG_RD64_REFINED)
    if vision_layers:
        n = len(cfg["extract_layers"])
        if vision_layers < n:
            raise ValueError(f"CLIPSeg reads {n} layers of the image tower; keep at least {n}")
        cfg["vision_config"]["num_hidden_layers"] = vision_layers
        cfg["extract_layers"] = list(range(vision_layers - n, vision_layers))
    if text_layers:
        cfg["text_config"]["num_hidden_layers"] = text_layers
    return cfg


def open_clip_vit_l14(vision_layers: int | None = None, text_layers: int | None = None) -> dict[str, Any]:
    import copy

    cfg = copy.deepcopy(OPEN_CLIP_VIT_L14)
    if vision_layers:
        cfg["vision_cfg"]["layers"] = vision_layers
    if text_layers:
        cfg["text_cfg"]["layers"] = text_layers
    return cfg


# -- CPU speed ---------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def bf16_cpu_kernels_in_float32():
    """Run the bfloat16 kernels this CPU lacks in float32, rounding results back to bf16.

    On AVX2 CPUs (the build machine) aten has no fast bf16 convolution (`_slow_conv2d_forward`, ~0.3 GFLOP/s: the
    FLUX VAE decoder takes minutes for a 32-px image), its bf16 matmul against a transposed weight, i.e. every linear
    layer's backward, runs at ~0.2 GFLOP/s, and its bf16 matmul peaks at ~7 GFLOP/s (float32: ~30). So convolutions
    are computed in float32, linear layers in float32 from 64 rows on (bf16 below, where reading the weight costs
    more than the arithmetic), and their gradients in float32 from the saved bf16 tensors (no float32 copy of a
    weight outlives its call). Every tensor the code under test sees keeps its dtype, and mismatched
    input/weight/bias dtypes still raise as torch does (the original function is called for them). GPUs never take
    this path."""
    import torch
    import torch.nn.functional as F

    originals = {name: getattr(F, name) for name in ("conv2d", "conv_transpose2d", "linear")}

    def linear(x, weight, bias):
        if x.numel() // max(x.shape[-1], 1) < 64:  # a few rows: bf16 is as fast as upcasting the weight
            return originals["linear"](x, weight, bias)
        return originals["linear"](x.float(), weight.float(), None if bias is None else bias.float()).to(x.dtype)

    class Linear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            ctx.save_for_backward(x, weight)
            ctx.bias = bias is not None
            return linear(x, weight, bias)

        @staticmethod
        def backward(ctx, grad):
            x, weight = ctx.saved_tensors
            g = grad.float().reshape(-1, grad.shape[-1])
            gx = (g @ weight.float()).to(x.dtype).view(x.shape) if ctx.needs_input_grad[0] else None
            gw = (g.T @ x.float().reshape(-1, x.shape[-1])).to(weight.dtype) if ctx.needs_input_grad[1] else None
            gb = g.sum(0).to(weight.dtype) if ctx.bias and ctx.needs_input_grad[2] else None
            return gx, gw, gb

    def wrap(name):
        original = originals[name]

        def kernel(input, weight, bias=None, *args, **kwargs):
            if not (input.dtype == weight.dtype == torch.bfloat16 and input.device.type == "cpu"
                    and (bias is None or bias.dtype == torch.bfloat16)):
                return original(input, weight, bias, *args, **kwargs)
            if name == "linear":
                if torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad
                                                or (bias is not None and bias.requires_grad)):
                    return Linear.apply(input, weight, bias)
                return linear(input, weight, bias)
            out = original(input.float(), weight.float(), None if bias is None else bias.float(), *args, **kwargs)
            return out.to(torch.bfloat16)
        return kernel

    for name in originals:
        setattr(F, name, wrap(name))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(F, name, fn)
