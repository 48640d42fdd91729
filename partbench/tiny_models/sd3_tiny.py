"""A tiny, randomly initialised Stable Diffusion 3 / 3.5 pipeline (MM-DiT, VAE, two CLIP text encoders with
projection, in-memory tokenizers, SD3's flow-matching scheduler), without T5, as Seg4Diff runs SD3.

Why: SD3-medium's weights are gated and 2B parameters; Seg4Diff's code path (`StableDiffusion3Pipeline.encode_prompt`,
the VAE, the joint attention of one block) must still be tested end to end on CPU. The preset uses the same classes
as the real checkpoints (`SD3Transformer2DModel`, `AutoencoderKL`, `CLIPTextModelWithProjection`,
`StableDiffusion3Pipeline` with `text_encoder_3=None`), only with small configs. Same seed and config give identical
weights. `dual=True` gives SD3.5's block layout: a second, image-only attention (`attn2`) in the first blocks and
RMS-normalised queries and keys.

Constraints: caption_projection_dim == heads * head_dim (text and image tokens share the joint attention);
pooled_projection_dim == the two CLIP projection sizes added; joint_attention_dim >= the two CLIP hidden sizes added
(SD3 pads CLIP's hidden states to T5's width).
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class TinySD3Config:
    num_layers: int = 12  # SD3-medium has 24; 12 keep block 9, Seg4Diff's expert layer, a middle block
    attention_head_dim: int = 8
    num_attention_heads: int = 2
    clip_hidden: tuple[int, int] = (16, 24)  # CLIP-L, CLIP-G (768, 1280 in SD3)
    joint_attention_dim: int = 48  # T5's width (4096 in SD3): the zero T5 half and the padded CLIP states
    latent_channels: int = 4  # 16 in SD3
    vae_block_out_channels: tuple[int, ...] = (8, 16)  # 2 blocks: /2 in the VAE, /2 more by the 2x2 patches
    sample_size: int = 16  # latent side the position embedding is built for (pos_embed_max_size too)
    dual_attention_layers: tuple[int, ...] = tuple(range(10))  # used with dual=True (SD3.5-medium: 0-12 of 24)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CHARS = list(dict.fromkeys(string.ascii_lowercase + string.digits + string.punctuation))


@lru_cache(maxsize=4)
def learn_merges(words: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """BPE merges learnt from `words` (each counted once), ties broken by the pair's text: deterministic, unlike the
    `tokenizers` trainer, whose tie order changes from process to process. Words end in `</w>` as in CLIP."""
    from collections import Counter

    corpus = [list(w[:-1]) + [w[-1] + "</w>"] for w in words]
    merges: list[tuple[str, str]] = []
    while True:
        counts = Counter(pair for symbols in corpus for pair in zip(symbols, symbols[1:]))
        if not counts:
            return tuple(merges)
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        for i, symbols in enumerate(corpus):
            out, j = [], 0
            while j < len(symbols):
                if j + 1 < len(symbols) and (symbols[j], symbols[j + 1]) == best:
                    out.append(symbols[j] + symbols[j + 1])
                    j += 2
                else:
                    out.append(symbols[j])
                    j += 1
            corpus[i] = out


def tiny_clip_word_tokenizer():
    """A CLIP BPE tokenizer whose merges are learnt in memory from the tiny word list (prompt words and every
    object/part word of the demo and Pascal-Part-116 suites), so those words are one token each, as most are in
    CLIP's real vocabulary; other words fall back to pieces and single characters. Pads to 77 like CLIP."""
    from transformers import CLIPTokenizer

    from partbench.tiny_models.flux2_tiny import TINY_WORDS

    merges = learn_merges(tuple(w.lower() for w in TINY_WORDS))
    vocab: dict[str, int] = {}
    for token in [*_CHARS, *(c + "</w>" for c in _CHARS), *(a + b for a, b in merges),
                  "<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=list(merges), model_max_length=77)


def tiny_sd3_pipeline(seed: int = 0, config: TinySD3Config | None = None, dual: bool = False):
    """A `StableDiffusion3Pipeline` without T5 over tiny random components drawn from `seed` (CPU, float32)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    c = config or TinySD3Config()
    tokenizers = (tiny_clip_word_tokenizer(), tiny_clip_word_tokenizer())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoders = [CLIPTextModelWithProjection(CLIPTextConfig(
            vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_attention_heads=2,
            num_hidden_layers=2, max_position_embeddings=77, projection_dim=hidden, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)).eval()
            for tok, hidden in zip(tokenizers, c.clip_hidden)]
        inner = c.num_attention_heads * c.attention_head_dim
        transformer = SD3Transformer2DModel(
            sample_size=c.sample_size, patch_size=2, in_channels=c.latent_channels, num_layers=c.num_layers,
            attention_head_dim=c.attention_head_dim, num_attention_heads=c.num_attention_heads,
            joint_attention_dim=c.joint_attention_dim, caption_projection_dim=inner,
            pooled_projection_dim=sum(c.clip_hidden), out_channels=c.latent_channels,
            pos_embed_max_size=c.sample_size, dual_attention_layers=c.dual_attention_layers if dual else (),
            qk_norm="rms_norm" if dual else None).eval()
        n = len(c.vae_block_out_channels)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=c.vae_block_out_channels,
            layers_per_block=1, latent_channels=c.latent_channels, norm_num_groups=8, use_quant_conv=False,
            use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5305).eval()  # SD3's factors
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
        text_encoder=encoders[0], tokenizer=tokenizers[0], text_encoder_2=encoders[1], tokenizer_2=tokenizers[1],
        text_encoder_3=None, tokenizer_3=None)
