"""Tiny, randomly initialised editing pipelines: InstructPix2Pix (SD 1.5 layout, an 8-channel UNet input: noisy
latents + the source's latents) and SDXL inpainting (two CLIP text encoders, SDXL's micro-conditioning, a 9-channel
UNet input: noisy latents + mask + masked-image latents, as in `diffusers/stable-diffusion-xl-1.0-inpainting-0.1`).

Why: the real checkpoints are gigabytes and cannot be downloaded on the build machines, but the `instruct-pix2pix`
and `sdxl-inpaint` methods must run end to end on CPU in tests. The presets use the pipelines' real classes
(`UNet2DConditionModel`, `AutoencoderKL`, `CLIPTextModel[WithProjection]`) with small configs, so code written
against them runs unchanged on the real weights. Same seed and config give identical weights.

Constraints: the UNet's cross_attention_dim == the text encoders' hidden sizes (SDXL: the two concatenated);
SDXL's projection_class_embeddings_input_dim == 6 time ids x addition_time_embed_dim + text_encoder_2's projection
(6 ids: original size, crop corner, target size; no aesthetic score, as the inpainting pipeline's default).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from partbench.tiny_models.flux1_tiny import tiny_clip_tokenizer


@dataclass(frozen=True)
class TinySDEditConfig:
    text_dim: int = 32  # each CLIP text encoder's hidden size (SDXL: 768 + 1280)
    text_layers: int = 2
    unet_channels: tuple[int, int] = (16, 32)
    attention_head_dim: tuple[int, int] = (2, 4)
    addition_time_embed_dim: int = 8  # SDXL's micro-conditioning (256 in SDXL)
    latent_channels: int = 4
    vae_block_out_channels: tuple[int, int] = (8, 16)  # 2 blocks: latents are /2 (SD's VAE: /8)
    max_length: int = 77  # CLIP's context; the pipelines pad prompts to it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clip_config(c: TinySDEditConfig, tok):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=len(tok), hidden_size=c.text_dim, intermediate_size=37, num_attention_heads=4,
                          num_hidden_layers=c.text_layers, max_position_embeddings=c.max_length,
                          projection_dim=c.text_dim, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id)


def _vae(c: TinySDEditConfig):
    from diffusers import AutoencoderKL

    n = len(c.vae_block_out_channels)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=c.vae_block_out_channels,
                         layers_per_block=1, latent_channels=c.latent_channels, norm_num_groups=8)


def _tokenizer(c: TinySDEditConfig):
    tok = tiny_clip_tokenizer()
    tok.model_max_length = c.max_length  # an in-memory tokenizer has no limit; the pipelines pad to it
    return tok


def tiny_instruct_pix2pix(seed: int = 0, config: TinySDEditConfig | None = None):
    """A `StableDiffusionInstructPix2PixPipeline` with random tiny weights (CPU, float32), no safety checker."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    c = config or TinySDEditConfig()
    tok = _tokenizer(c)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=16, in_channels=2 * c.latent_channels, out_channels=c.latent_channels, layers_per_block=1,
            block_out_channels=c.unet_channels, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=c.text_dim,
            attention_head_dim=c.attention_head_dim, norm_num_groups=8)
        vae = _vae(c)
        text_encoder = CLIPTextModel(_clip_config(c, tok))
    # InstructPix2Pix's own scheduler (timbrooks/instruct-pix2pix ships EulerAncestralDiscreteScheduler).
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    return StableDiffusionInstructPix2PixPipeline(
        vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tok, unet=unet.eval(), scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def tiny_sdxl_inpaint(seed: int = 0, config: TinySDEditConfig | None = None):
    """A `StableDiffusionXLInpaintPipeline` with random tiny weights (CPU, float32) and a 9-channel UNet."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    c = config or TinySDEditConfig()
    tok = _tokenizer(c)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=16, in_channels=2 * c.latent_channels + 1, out_channels=c.latent_channels,
            layers_per_block=1, block_out_channels=c.unet_channels,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=c.attention_head_dim,
            use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=c.addition_time_embed_dim, transformer_layers_per_block=(1, 1),
            projection_class_embeddings_input_dim=6 * c.addition_time_embed_dim + c.text_dim,
            cross_attention_dim=2 * c.text_dim, norm_num_groups=8)
        vae = _vae(c)
        text_encoder = CLIPTextModel(_clip_config(c, tok))
        text_encoder_2 = CLIPTextModelWithProjection(_clip_config(c, tok))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    return StableDiffusionXLInpaintPipeline(
        vae=vae.eval(), text_encoder=text_encoder.eval(), text_encoder_2=text_encoder_2.eval(), tokenizer=tok,
        tokenizer_2=_tokenizer(c), unet=unet.eval(), scheduler=scheduler, add_watermarker=False)
