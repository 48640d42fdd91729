"""ConceptAttention's concept stream beside a stock diffusers `FluxTransformer2DModel` (no subclass, no patching).

The function below replays the model's forward up to the last double-stream block it needs, using the loaded
model's own submodules, and runs a third token stream (the concepts) next to the text and image streams:

- concept tokens go through the *text-stream* weights of every block (`norm1_context`, `add_q/k/v_proj`,
  `norm_added_q/k`, `to_add_out`, `norm2_context`, `ff_context`), modulated by their own conditioning vector;
- concept queries attend over [concept keys, image keys] (concept RoPE ids are zeros, image RoPE is the real one);
  image and text tokens never see the concepts, so the image stream is exactly the stock model's;
- the per-layer score is the dot product of the concept and image attention outputs over the feature axis, before
  the output projection (the reference definition, Helbling et al. 2025, BFL `dit_block.py`) or after it (the
  diffusers port); with `normalize="concepts"` the concept vectors are first normalised over the concepts
  (`normalize_concepts`, the paper's multi-class segmentation experiment).

Single-stream blocks are not run: the scores only come from double blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

PROJECTIONS = ("pre", "post")
NORMALIZATIONS = ("none", "concepts")


@dataclass
class StreamInputs:
    """Model-space inputs of one forward (batch B): what `FluxTransformer2DModel.forward` takes, plus the concepts."""

    latents: torch.Tensor  # (B, N, in_channels) packed image latents
    img_ids: torch.Tensor  # (N, 3)
    prompt_embeds: torch.Tensor  # (B, T, joint_attention_dim)
    txt_ids: torch.Tensor  # (T, 3)
    pooled: torch.Tensor  # (B, pooled_projection_dim): conditioning of the image/text streams
    concept_embeds: torch.Tensor  # (B, C, joint_attention_dim)
    concept_pooled: torch.Tensor  # (B, pooled_projection_dim): conditioning of the concept stream
    timestep: torch.Tensor  # (B,) sigma in [0, 1] (the model multiplies by 1000)
    guidance: torch.Tensor | None = None  # (B,) for guidance-distilled checkpoints (dev), else None


@dataclass
class StreamOutputs:
    scores: dict[int, torch.Tensor]  # double-block index -> (B, C, N) float32 concept-image scores
    image_tokens: torch.Tensor  # image stream after the last block run (equals the stock forward's)
    text_tokens: torch.Tensor
    concept_tokens: torch.Tensor


def _heads(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    return x.unflatten(-1, (-1, head_dim))  # (B, S, H, D)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """SDPA on (B, S, H, D) tensors, heads merged back: (B, S, H*D)."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2).flatten(2, 3).to(q.dtype)


def _residual(x, out, gate, shift, scale, gate2, norm2, ff):
    """The double block's residual rule (`FluxTransformerBlock.forward`), shared by the three streams."""
    x = x + gate.unsqueeze(1) * out
    h = norm2(x) * (1 + scale[:, None]) + shift[:, None]
    x = x + gate2.unsqueeze(1) * ff(h)
    return x.clip(-65504, 65504) if x.dtype == torch.float16 else x


def normalize_concepts(vectors: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """Linear normalisation over the concept axis `dim`: every feature is shifted so its least value over the
    concepts is 0, then divided by its sum over the concepts (left as is where that sum is 0).

    The multi-class segmentation experiment's `normalize_concepts` (ConceptAttention `segmentation.py` L316-318,
    `linear_normalization(concept_vectors, dim=-2)` of `utils.py` L71-80, on (layers, samples, concepts, dim)
    vectors): per layer and noise sample, applied to the concept vectors only, before the dot product."""
    shifted = vectors - vectors.amin(dim=dim, keepdim=True)
    total = shifted.sum(dim=dim, keepdim=True)
    return shifted / torch.where(total == 0, torch.ones_like(total), total)


def joint_and_concept_attention(a, qkv_txt, qkv_img, qkv_con, rope_joint, rope_concepts, projection: str,
                                want: bool, normalize: str = "none"):
    """One double-stream attention, FLUX.1 and FLUX.2 alike: projected image, text and concept outputs, and scores.

    The stock joint attention over [text, image] is computed exactly as the model does and is untouched by the
    concepts; the concept queries attend over [concepts, image] in one direction (nothing reads the concepts back).
    Scores (concepts x image tokens) are dot products before or after the output projection, of the concept vectors
    normalised over the concepts first with `normalize="concepts"`.
    """
    from diffusers.models.embeddings import apply_rotary_emb

    (q_t, k_t, v_t), (q_i, k_i, v_i), (q_c, k_c, v_c) = qkv_txt, qkv_img, qkv_con
    n_txt_tokens, n_concepts = q_t.shape[1], q_c.shape[1]
    joint = _attention(apply_rotary_emb(torch.cat([q_t, q_i], 1), rope_joint, sequence_dim=1),
                       apply_rotary_emb(torch.cat([k_t, k_i], 1), rope_joint, sequence_dim=1),
                       torch.cat([v_t, v_i], 1))
    o_txt, o_img = joint[:, :n_txt_tokens], joint[:, n_txt_tokens:]
    q2 = apply_rotary_emb(torch.cat([q_c, q_i], 1), rope_concepts, sequence_dim=1)[:, :n_concepts]
    k2 = apply_rotary_emb(torch.cat([k_c, k_i], 1), rope_concepts, sequence_dim=1)
    o_con = _attention(q2, k2, torch.cat([v_c, v_i], 1))

    p_img = a.to_out[1](a.to_out[0](o_img))
    p_txt, p_con = a.to_add_out(o_txt), a.to_add_out(o_con)
    scores = None
    if want:
        c_vec, i_vec = (o_con, o_img) if projection == "pre" else (p_con, p_img)
        c_vec = normalize_concepts(c_vec.float()) if normalize == "concepts" else c_vec
        scores = torch.einsum("bcd,bnd->bcn", c_vec.float(), i_vec.float())
    return p_img, p_txt, p_con, scores


def _double_block(block, img, txt, con, temb, con_temb, rope_joint, rope_concepts, projection: str, want: bool,
                  normalize: str = "none"):
    a = block.attn
    d = a.head_dim
    n_img, g_img, sh_img, sc_img, g2_img = block.norm1(img, emb=temb)
    n_txt, g_txt, sh_txt, sc_txt, g2_txt = block.norm1_context(txt, emb=temb)
    n_con, g_con, sh_con, sc_con, g2_con = block.norm1_context(con, emb=con_temb)

    q_i, k_i, v_i = a.norm_q(_heads(a.to_q(n_img), d)), a.norm_k(_heads(a.to_k(n_img), d)), _heads(a.to_v(n_img), d)
    q_t, k_t, v_t = (a.norm_added_q(_heads(a.add_q_proj(n_txt), d)), a.norm_added_k(_heads(a.add_k_proj(n_txt), d)),
                     _heads(a.add_v_proj(n_txt), d))
    q_c, k_c, v_c = (a.norm_added_q(_heads(a.add_q_proj(n_con), d)), a.norm_added_k(_heads(a.add_k_proj(n_con), d)),
                     _heads(a.add_v_proj(n_con), d))
    p_img, p_txt, p_con, scores = joint_and_concept_attention(a, (q_t, k_t, v_t), (q_i, k_i, v_i), (q_c, k_c, v_c),
                                                              rope_joint, rope_concepts, projection, want,
                                                              normalize)

    img = _residual(img, p_img, g_img, sh_img, sc_img, g2_img, block.norm2, block.ff)
    txt = _residual(txt, p_txt, g_txt, sh_txt, sc_txt, g2_txt, block.norm2_context, block.ff_context)
    con = _residual(con, p_con, g_con, sh_con, sc_con, g2_con, block.norm2_context, block.ff_context)
    return img, txt, con, scores


def check_score_rule(projection: str, normalize: str) -> None:
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")


@torch.no_grad()
def concept_stream(transformer, inputs: StreamInputs, layers: list[int], projection: str = "pre",
                   normalize: str = "none") -> StreamOutputs:
    """Scores of every concept at every image token for the double blocks in `layers` (0-based)."""
    check_score_rule(projection, normalize)
    n_blocks = len(transformer.transformer_blocks)
    bad = [i for i in layers if not 0 <= i < n_blocks]
    if bad:
        raise ValueError(f"layers {bad} out of range: the model has {n_blocks} double-stream blocks "
                         f"(0..{n_blocks - 1})")
    t = transformer
    img = t.x_embedder(inputs.latents)
    timestep = inputs.timestep.to(img.dtype) * 1000

    def conditioning(pooled):
        if inputs.guidance is None:
            return t.time_text_embed(timestep, pooled)
        return t.time_text_embed(timestep, inputs.guidance.to(img.dtype) * 1000, pooled)

    temb, con_temb = conditioning(inputs.pooled), conditioning(inputs.concept_pooled)
    txt = t.context_embedder(inputs.prompt_embeds)
    con = t.context_embedder(inputs.concept_embeds)
    concept_ids = torch.zeros(con.shape[1], inputs.img_ids.shape[-1], dtype=inputs.img_ids.dtype,
                              device=inputs.img_ids.device)
    rope_joint = t.pos_embed(torch.cat([inputs.txt_ids, inputs.img_ids], 0))
    rope_concepts = t.pos_embed(torch.cat([concept_ids, inputs.img_ids], 0))
    wanted = set(layers)
    scores = {}
    for i, block in enumerate(t.transformer_blocks[: max(layers) + 1]):
        img, txt, con, s = _double_block(block, img, txt, con, temb, con_temb, rope_joint, rope_concepts,
                                         projection, want=i in wanted, normalize=normalize)
        if s is not None:
            scores[i] = s
    return StreamOutputs(scores=scores, image_tokens=img, text_tokens=txt, concept_tokens=con)


def aggregate(scores: list[torch.Tensor], softmax: str = "concepts", order: str = "softmax_then_mean",
              temperature: float = 1.0) -> torch.Tensor:
    """One (C, N) map from per-(layer, timestep, noise draw) scores, each (C, N).

    Reference (BFL code): softmax over concepts of every map, then the mean. FLUX.2 port: mean first, then
    softmax(mean / temperature) (temperature 1000 there). softmax="patches" is the diffusers port's axis;
    "none" averages raw scores.
    """
    axis = {"concepts": 0, "patches": 1, "none": None}[softmax]
    stack = torch.stack([s.float() for s in scores]) / temperature
    if axis is None:
        return stack.mean(0)
    if order == "softmax_then_mean":
        return stack.softmax(dim=axis + 1).mean(0)
    if order == "mean_then_softmax":
        return stack.mean(0).softmax(dim=axis)
    raise ValueError(f"order must be softmax_then_mean or mean_then_softmax, got {order!r}")
