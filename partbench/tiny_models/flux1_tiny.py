"""A tiny, randomly initialised FLUX.1 (transformer, VAE, T5 and CLIP text encoders, in-memory tokenizers).

Why: FLUX.1 weights (12B transformer) cannot run or be downloaded on the build machines, but ConceptAttention's code
path must be tested end to end on CPU. The preset uses the same classes as the real checkpoint
(`FluxTransformer2DModel`, `AutoencoderKL`, `T5EncoderModel`, `CLIPTextModel`), with small configs, so code written
against it runs unchanged on `black-forest-labs/FLUX.1-schnell`. Same seed and config give identical weights.

Constraints: sum(axes_dims_rope) == attention_head_dim; in_channels == 4 * latent_channels (2x2 packing);
joint_attention_dim == T5 d_model; pooled_projection_dim == CLIP hidden size.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TinyFlux1Config:
    num_layers: int = 3  # double-stream blocks
    num_single_layers: int = 1
    attention_head_dim: int = 16
    num_attention_heads: int = 2
    axes_dims_rope: tuple[int, int, int] = (4, 4, 8)
    text_dim: int = 32  # T5 d_model = joint_attention_dim
    pooled_dim: int = 32  # CLIP hidden = pooled_projection_dim
    latent_channels: int = 4
    vae_block_out_channels: tuple[int, ...] = (8, 16)  # 2 blocks: /2 in the VAE, /2 more by packing
    max_sequence_length: int = 16
    guidance_embeds: bool = False  # like schnell

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Flux1Components:
    transformer: Any  # diffusers.FluxTransformer2DModel
    vae: Any  # diffusers.AutoencoderKL
    text_encoder_2: Any  # transformers.T5EncoderModel
    tokenizer_2: Any
    text_encoder: Any  # transformers.CLIPTextModel (pooled vector), may be None when not needed
    tokenizer: Any
    max_sequence_length: int

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


_CHARS = string.ascii_lowercase + string.ascii_uppercase + string.digits + "'-,."


def tiny_t5_tokenizer():
    """A character-level Unigram T5 tokenizer built in memory (the real spiece.model would be a download)."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)] + [(c, -1.0) for c in _CHARS]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def tiny_clip_tokenizer():
    """A character-level CLIP BPE tokenizer (no merges) built in memory."""
    from transformers import CLIPTokenizer

    symbols = list(dict.fromkeys(_CHARS + string.punctuation))
    vocab = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[])


def tiny_flux1_components(seed: int = 0, config: TinyFlux1Config | None = None) -> Flux1Components:
    """Build the tiny preset with weights drawn from `seed` (CPU, float32)."""
    import torch
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    c = config or TinyFlux1Config()
    t5_tok, clip_tok = tiny_t5_tokenizer(), tiny_clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(
            patch_size=1, in_channels=4 * c.latent_channels, num_layers=c.num_layers,
            num_single_layers=c.num_single_layers, attention_head_dim=c.attention_head_dim,
            num_attention_heads=c.num_attention_heads, joint_attention_dim=c.text_dim,
            pooled_projection_dim=c.pooled_dim, axes_dims_rope=c.axes_dims_rope, guidance_embeds=c.guidance_embeds)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * len(c.vae_block_out_channels),
            up_block_types=("UpDecoderBlock2D",) * len(c.vae_block_out_channels),
            block_out_channels=c.vae_block_out_channels, layers_per_block=1, latent_channels=c.latent_channels,
            norm_num_groups=8, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
            scaling_factor=1.5035)
        t5 = T5EncoderModel(T5Config(vocab_size=len(t5_tok), d_model=c.text_dim, d_kv=8, d_ff=37, num_layers=2,
                                     num_heads=4, decoder_start_token_id=0, pad_token_id=t5_tok.pad_token_id,
                                     eos_token_id=t5_tok.eos_token_id))
        clip = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(clip_tok), hidden_size=c.pooled_dim, intermediate_size=37, num_attention_heads=4,
            num_hidden_layers=2, max_position_embeddings=77, projection_dim=c.pooled_dim,
            bos_token_id=clip_tok.bos_token_id, eos_token_id=clip_tok.eos_token_id,
            pad_token_id=clip_tok.pad_token_id))
    return Flux1Components(transformer=transformer.eval(), vae=vae.eval(), text_encoder_2=t5.eval(),
                           tokenizer_2=t5_tok, text_encoder=clip.eval(), tokenizer=clip_tok,
                           max_sequence_length=c.max_sequence_length)
