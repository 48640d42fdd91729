"""Part-level generation: the normal FLUX.2 Klein sampling loop conditioned on PartConcept tokens, fixed seeds, and
optionally the PartConcept attention maps of the final steps (the paper's Figure 4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from partbench.methods.partconcepts.prompts import mark_prompt_item


@dataclass
class Generated:
    image: object  # PIL.Image
    phrases: tuple[str, ...]
    maps: torch.Tensor | None = None  # (C, L, h, w): mean over the last `map_steps` steps, per captured layer


def klein_sampler(model, distilled: bool = True):
    """(Klein pipeline over the model's components, negative prompt embeddings or None): what generation and part
    editing sample with."""
    pipe = model.components.pipeline(distilled=distilled)
    pipe.set_progress_bar_config(disable=True)
    # The base sampler's unconditional branch: the empty prompt through the same encoder (the stock pipeline would
    # re-encode "" with Klein's layer indices, which the tiny text encoder lacks); the base features are the stock ones.
    negative = None if distilled else model.encoder.encode([""]).embeds.to(model.transformer.dtype)
    return pipe, negative


@torch.no_grad()
def generate_images(model, prompts: Sequence, seeds: Sequence[int], steps: int = 4, resolution: int | None = None,
                    map_steps: int = 0, guidance: float = 1.0, distilled: bool = True) -> list[Generated]:
    """One image per (prompt, seed); the same pair gives the same image (CPU generator: same noise on any device).

    `resolution`: square image size (default: the training resolution). `distilled=False` is the base (non-distilled)
    sampler: classifier-free guidance with `guidance` against the empty prompt, as diffusers' Klein pipeline does."""
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    pipe, negative = klein_sampler(model, distilled)
    size = resolution or model.config.resolution
    out = []
    from partbench.console import progress_bar

    with progress_bar(transient=True) as bar:
        task = bar.add_task("partconcepts: generating", total=len(prompts), note="")
        for item, seed in zip(prompts, seeds):
            text = mark_prompt_item(item)
            enc = model.encoder.encode([text])
            grid = size // model.token_stride
            maps: list[torch.Tensor] = []
            with model.capture.recording(enc.concept_positions, enc.embeds.shape[1]) as rec:
                rec.enabled = map_steps > 0

                def on_step(_pipe, i, _t, kwargs, *, maps=maps):
                    # keep only the final `map_steps` steps' maps. Each transformer call appends one map per captured
                    # layer; the conditional call comes first (with guidance an unconditional one follows, whose
                    # prompt has no PartConcepts), so the step's maps are its first len(layers).
                    if map_steps and i >= steps - map_steps:
                        maps.append(torch.stack(rec.maps[:len(rec.layers)], dim=1))
                    rec.maps.clear()
                    return kwargs

                image = pipe(prompt_embeds=enc.embeds.to(model.transformer.dtype), height=size, width=size,
                             negative_prompt_embeds=negative,
                             num_inference_steps=steps, guidance_scale=guidance,
                             generator=torch.Generator("cpu").manual_seed(int(seed)),
                             callback_on_step_end=on_step).images[0]
            phrase_maps = None
            if maps:
                m = torch.stack(maps).mean(0)[0]  # (L, C, N)
                phrase_maps = m.transpose(0, 1).reshape(m.shape[1], m.shape[0], grid, grid).float().cpu()
            out.append(Generated(image, enc.phrases[0], phrase_maps))
            bar.advance(task)
    return out
