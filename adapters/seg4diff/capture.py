"""Image-to-text attention of chosen MM-DiT blocks, captured during the stock diffusers forward.

For one forward, `capture` puts a wrapping attention processor on the joint attention (`block.attn`) of each chosen
block; SD3.5's second, image-only attention (`attn2`) is left alone. The wrapper first calls the block's own
processor, unchanged, so everything the forward computes is the stock result bit for bit; then it recomputes that
block's queries and keys exactly as the stock processor does (projections, QK norms, FLUX's RoPE) and keeps

    mean over heads of softmax over ALL keys (image and text) of Q·Kᵀ/√d_head,  rows: image queries,
    columns: the first `n_cols` text tokens

(upstream's vendored `JointAttnProcessor2_0` with SOFTMAX True, SOFTMAX_I2T_ONLY False, KEEP_HEAD False). The
softmax's row normalisers come from a fused attention kernel over all keys; only the kept columns' logits are formed
(float32, per chunk of `QUERY_CHUNK` image queries), so no layer holds a queries x keys matrix. No diffusers class is
subclassed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from partbench.attention_columns import attention_logsumexp, softmax_columns

QUERY_CHUNK = 4096  # image queries per logits chunk: all of SD3's 64x64 tokens at 1024²


@dataclass(frozen=True)
class TextLayout:
    """Where the text tokens sit in a block's joint sequence, and how many text columns to keep."""

    image_first: bool  # SD3: [image, text]; FLUX.1 (double and single blocks): [text, image]
    text_len: int  # text tokens in the sequence (SD3 without T5: 77 CLIP + 77 zero T5 tokens; FLUX.1: T5's length)
    n_cols: int  # columns kept, counted from the first text token


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, S, H*D) -> (B, H, S, D)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def sd3_qk(attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
           *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries and keys (B, H, S, D) of SD3's joint attention, as `JointAttnProcessor2_0` computes them."""
    q, k = _heads(attn.to_q(hidden_states), attn.heads), _heads(attn.to_k(hidden_states), attn.heads)
    if attn.norm_q is not None:
        q = attn.norm_q(q)
    if attn.norm_k is not None:
        k = attn.norm_k(k)
    if encoder_hidden_states is not None:
        cq = _heads(attn.add_q_proj(encoder_hidden_states), attn.heads)
        ck = _heads(attn.add_k_proj(encoder_hidden_states), attn.heads)
        if attn.norm_added_q is not None:
            cq = attn.norm_added_q(cq)
        if attn.norm_added_k is not None:
            ck = attn.norm_added_k(ck)
        q, k = torch.cat([q, cq], 2), torch.cat([k, ck], 2)
    return q, k


def flux_qk(attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
            image_rotary_emb: Any = None, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries and keys (B, H, S, D) of FLUX.1's attention, double or single block, as `FluxAttnProcessor` computes
    them: text before image, RoPE applied."""
    from diffusers.models.embeddings import apply_rotary_emb

    if getattr(attn, "fused_projections", False):
        q, k, _ = attn.to_qkv(hidden_states).chunk(3, dim=-1)
    else:
        q, k = attn.to_q(hidden_states), attn.to_k(hidden_states)
    q, k = attn.norm_q(q.unflatten(-1, (-1, attn.head_dim))), attn.norm_k(k.unflatten(-1, (-1, attn.head_dim)))
    if encoder_hidden_states is not None and attn.added_kv_proj_dim is not None:
        if getattr(attn, "fused_projections", False):
            cq, ck, _ = attn.to_added_qkv(encoder_hidden_states).chunk(3, dim=-1)
        else:
            cq, ck = attn.add_q_proj(encoder_hidden_states), attn.add_k_proj(encoder_hidden_states)
        cq = attn.norm_added_q(cq.unflatten(-1, (-1, attn.head_dim)))
        ck = attn.norm_added_k(ck.unflatten(-1, (-1, attn.head_dim)))
        q, k = torch.cat([cq, q], 1), torch.cat([ck, k], 1)
    if image_rotary_emb is not None:
        q = apply_rotary_emb(q, image_rotary_emb, sequence_dim=1)
        k = apply_rotary_emb(k, image_rotary_emb, sequence_dim=1)
    return q.transpose(1, 2), k.transpose(1, 2)


def image_to_text(q: torch.Tensor, k: torch.Tensor, layout: TextLayout, chunk: int = QUERY_CHUNK) -> torch.Tensor:
    """(B, image tokens, n_cols) float32: per head softmax(Q·Kᵀ/√d) over all keys, image rows and text columns kept,
    averaged over heads. Each row's normaliser comes from the fused attention kernel
    (`partbench.attention_columns`), so only the kept columns' logits are formed, per chunk of image queries."""
    b, heads, s, d = q.shape
    if layout.image_first:
        img0, img1, t0 = 0, s - layout.text_len, s - layout.text_len
    else:
        img0, img1, t0 = layout.text_len, s, 0
    lse = attention_logsumexp(q[:, :, img0:img1], k)
    columns = k[:, :, t0:t0 + layout.n_cols]
    out = torch.empty(b, img1 - img0, layout.n_cols, dtype=torch.float32, device=q.device)
    for start in range(0, img1 - img0, chunk):
        stop = min(start + chunk, img1 - img0)
        rows = q[:, :, img0 + start:img0 + stop]
        out[:, start:stop] = softmax_columns(rows, columns, lse[:, :, start:stop]).mean(dim=1)
    return out


class _CaptureProcessor:
    """Calls the stock processor, then stores this block's image-to-text attention in `sink[layer]`."""

    def __init__(self, inner: Any, qk: Callable, layer: int, layout: TextLayout, sink: dict[int, torch.Tensor],
                 chunk: int):
        self.inner, self.qk, self.layer, self.layout, self.sink, self.chunk = inner, qk, layer, layout, sink, chunk

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, *args: Any, **kwargs: Any) -> Any:
        out = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, *args, **kwargs)
        with torch.no_grad():
            q, k = self.qk(attn, hidden_states, encoder_hidden_states, *args, **kwargs)
            self.sink[self.layer] = image_to_text(q, k, self.layout, self.chunk)
        return out


@contextmanager
def capture(attentions: dict[int, Any], qk: Callable, layout: TextLayout,
            chunk: int = QUERY_CHUNK) -> Iterator[dict[int, torch.Tensor]]:
    """Within the block, every forward stores `layer -> (B, image tokens, n_cols)` for the attention modules given
    (layer -> `block.attn`); their own processors are put back however the block ends."""
    sink: dict[int, torch.Tensor] = {}
    saved = {layer: attn.processor for layer, attn in attentions.items()}
    try:
        for layer, attn in attentions.items():
            attn.set_processor(_CaptureProcessor(saved[layer], qk, layer, layout, sink, chunk))
        yield sink
    finally:
        for layer, attn in attentions.items():
            attn.set_processor(saved[layer])
