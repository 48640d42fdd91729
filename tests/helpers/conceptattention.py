"""The tiny FLUX.1 ConceptAttention tests' shared pieces: the stock forward's block outputs and option parsing."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")


def stock_forward():
    """A tiny transformer, random inputs, and what the stock forward computes in every double block (via hooks)."""
    from diffusers import FluxPipeline

    from partbench.tiny_models.flux1_tiny import tiny_flux1_components

    tr = tiny_flux1_components(0).transformer
    g = torch.Generator().manual_seed(0)
    b, t = 2, 5
    x = dict(latents=torch.randn(b, 16, tr.config.in_channels, generator=g),
             img_ids=FluxPipeline._prepare_latent_image_ids(b, 4, 4, "cpu", torch.float32),
             prompt=torch.randn(b, t, 32, generator=g), pooled=torch.randn(b, 32, generator=g),
             timestep=torch.tensor([0.5, 0.25]), txt_ids=torch.zeros(t, 3))
    seen = record_double_blocks(tr, lambda: tr(
        hidden_states=x["latents"], encoder_hidden_states=x["prompt"], pooled_projections=x["pooled"],
        timestep=x["timestep"], img_ids=x["img_ids"], txt_ids=x["txt_ids"]))
    return tr, x, seen


def record_double_blocks(tr, forward) -> dict:
    """What `forward()` (without gradients) computes in each double block of `tr`, by hooks: the block's output, its
    attention's output, and the image and text attention outputs before their projections."""
    seen, hooks = {}, []
    for i, blk in enumerate(tr.transformer_blocks):
        hooks += [blk.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(("block", i), out)),
                  blk.attn.to_out[0].register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(("o_img", i), a[0])),
                  blk.attn.to_add_out.register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(("o_txt", i), a[0])),
                  blk.attn.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(("attn", i), out))]
    try:
        with torch.no_grad():
            forward()
    finally:
        for h in hooks:
            h.remove()
    return seen


def stream_inputs(x, concepts, concept_pooled):
    from partbench.adapters.conceptattention.flux1_stream import StreamInputs

    return StreamInputs(latents=x["latents"], img_ids=x["img_ids"], prompt_embeds=x["prompt"], txt_ids=x["txt_ids"],
                        pooled=x["pooled"], concept_embeds=concepts, concept_pooled=concept_pooled,
                        timestep=x["timestep"])


def options(args):
    from partbench.adapters.conceptattention.method import ConceptAttentionOptions

    return ConceptAttentionOptions.from_args(args)
