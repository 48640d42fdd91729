"""ConceptAttention's concept stream beside a stock diffusers `Flux2Transformer2DModel` (no subclass, no patching).

The FLUX.2 twin of `flux1_stream.py`, same definition: the model's forward is replayed up to the last double-stream
block needed, with the loaded model's own submodules, and a third token stream (the concepts) runs next to the text
and image streams:

- concept tokens go through the *text-stream* weights of every double block (`norm1_context`, `add_q/k/v_proj` or
  the fused `to_added_qkv`, `norm_added_q/k`, `to_add_out`, `norm2_context`, `ff_context`); FLUX.2 has no pooled
  vector, so the modulation is computed once at model level and the concepts share the text stream's
  (`double_stream_modulation_txt`), as the reference FLUX.2 port does;
- concept queries attend over [concept keys, image keys] (concept RoPE ids are zeros, image RoPE is the real one);
  image and text tokens never see the concepts, so the image stream is exactly the stock model's;
- the per-layer score is the dot product of the concept and image attention outputs over the feature axis, before
  the output projection ("pre", the reference definition) or after it ("post").

Single-stream blocks are not run: the scores only come from double blocks. Aggregation is `flux1_stream.aggregate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .flux1_stream import PROJECTIONS, StreamOutputs, _heads, aggregate, check_score_rule, joint_and_concept_attention

__all__ = ["PROJECTIONS", "Flux2StreamInputs", "StreamOutputs", "aggregate", "concept_stream"]


@dataclass
class Flux2StreamInputs:
    """Model-space inputs of one forward (batch B): what `Flux2Transformer2DModel.forward` takes, plus the concepts."""

    latents: torch.Tensor  # (B, N, in_channels) packed, patchified, batch-normalised image latents
    img_ids: torch.Tensor  # (N, 4) or (B, N, 4): (t, h, w, l)
    prompt_embeds: torch.Tensor  # (B, T, joint_attention_dim)
    txt_ids: torch.Tensor  # (T, 4) or (B, T, 4)
    concept_embeds: torch.Tensor  # (B, C, joint_attention_dim)
    timestep: torch.Tensor  # (B,) sigma in [0, 1] (the model multiplies by 1000)
    guidance: torch.Tensor | None = None  # (B,) for guidance-distilled checkpoints (FLUX.2-dev), else None (Klein)


def _qkv(a, x, text: bool):
    """Query/key/value of `x` through the image (`text=False`) or text-stream (`text=True`) weights, as
    `_get_qkv_projections` does (fused or not), split into heads and q/k-normalised."""
    d = a.head_dim
    if getattr(a, "fused_projections", False):
        q, k, v = (a.to_added_qkv if text else a.to_qkv)(x).chunk(3, dim=-1)
    elif text:
        q, k, v = a.add_q_proj(x), a.add_k_proj(x), a.add_v_proj(x)
    else:
        q, k, v = a.to_q(x), a.to_k(x), a.to_v(x)
    q, k, v = _heads(q, d), _heads(k, d), _heads(v, d)
    if text:
        return a.norm_added_q(q), a.norm_added_k(k), v
    return a.norm_q(q), a.norm_k(k), v


def _residual(x, out, msa, mlp, norm2, ff, clip: bool):
    """The double block's residual rule (`Flux2TransformerBlock.forward`), shared by the three streams."""
    _, _, gate = msa
    shift2, scale2, gate2 = mlp
    x = x + gate * out
    h = norm2(x) * (1 + scale2) + shift2
    x = x + gate2 * ff(h)
    return x.clip(-65504, 65504) if clip and x.dtype == torch.float16 else x  # stock clips the text stream only


def _double_block(block, img, txt, con, mod_img, mod_txt, rope_joint, rope_concepts, projection: str, want: bool,
                  normalize: str = "none"):
    from diffusers.models.transformers.transformer_flux2 import Flux2Modulation

    a = block.attn
    msa_img, mlp_img = Flux2Modulation.split(mod_img, 2)
    msa_txt, mlp_txt = Flux2Modulation.split(mod_txt, 2)

    def modulate(norm, x, msa):
        shift, scale, _ = msa
        return (1 + scale) * norm(x) + shift

    q_i, k_i, v_i = _qkv(a, modulate(block.norm1, img, msa_img), text=False)
    q_t, k_t, v_t = _qkv(a, modulate(block.norm1_context, txt, msa_txt), text=True)
    q_c, k_c, v_c = _qkv(a, modulate(block.norm1_context, con, msa_txt), text=True)
    p_img, p_txt, p_con, scores = joint_and_concept_attention(a, (q_t, k_t, v_t), (q_i, k_i, v_i), (q_c, k_c, v_c),
                                                              rope_joint, rope_concepts, projection, want,
                                                              normalize)

    img = _residual(img, p_img, msa_img, mlp_img, block.norm2, block.ff, clip=False)
    txt = _residual(txt, p_txt, msa_txt, mlp_txt, block.norm2_context, block.ff_context, clip=True)
    con = _residual(con, p_con, msa_txt, mlp_txt, block.norm2_context, block.ff_context, clip=True)
    return img, txt, con, scores


def _cat_rope(*ropes):
    return torch.cat([r[0] for r in ropes], 0), torch.cat([r[1] for r in ropes], 0)


@torch.no_grad()
def concept_stream(transformer, inputs: Flux2StreamInputs, layers: list[int],
                   projection: str = "pre", normalize: str = "none") -> StreamOutputs:
    """Scores of every concept at every image token for the double blocks in `layers` (0-based)."""
    check_score_rule(projection, normalize)
    n_blocks = len(transformer.transformer_blocks)
    bad = [i for i in layers if not 0 <= i < n_blocks]
    if bad:
        raise ValueError(f"layers {bad} out of range: the model has {n_blocks} double-stream blocks "
                         f"(0..{n_blocks - 1})")
    t = transformer
    dtype = inputs.latents.dtype
    timestep = inputs.timestep.to(dtype) * 1000
    guidance = None if inputs.guidance is None else inputs.guidance.to(dtype) * 1000
    temb = t.time_guidance_embed(timestep, guidance)
    mod_img, mod_txt = t.double_stream_modulation_img(temb), t.double_stream_modulation_txt(temb)

    img = t.x_embedder(inputs.latents)
    txt = t.context_embedder(inputs.prompt_embeds)
    con = t.context_embedder(inputs.concept_embeds)
    img_ids = inputs.img_ids[0] if inputs.img_ids.ndim == 3 else inputs.img_ids
    txt_ids = inputs.txt_ids[0] if inputs.txt_ids.ndim == 3 else inputs.txt_ids
    concept_ids = torch.zeros(con.shape[1], img_ids.shape[-1], dtype=img_ids.dtype, device=img_ids.device)
    rope_img = t.pos_embed(img_ids)
    rope_joint = _cat_rope(t.pos_embed(txt_ids), rope_img)
    rope_concepts = _cat_rope(t.pos_embed(concept_ids), rope_img)
    wanted = set(layers)
    scores = {}
    for i, block in enumerate(t.transformer_blocks[: max(layers) + 1]):
        img, txt, con, s = _double_block(block, img, txt, con, mod_img, mod_txt, rope_joint, rope_concepts,
                                         projection, want=i in wanted, normalize=normalize)
        if s is not None:
            scores[i] = s
    return StreamOutputs(scores=scores, image_tokens=img, text_tokens=txt, concept_tokens=con)
