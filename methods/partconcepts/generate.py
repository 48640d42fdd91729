"""Part-level generation: the normal FLUX.2 Klein sampling loop conditioned on PartConcept tokens, fixed seeds, and
optionally the PartConcept attention maps of the final steps (the paper's Figure 4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from partbench.methods.partconcepts.prompts import mark_part


@dataclass
class Generated:
    image: object  # PIL.Image
    phrases: tuple[str, ...]
    maps: torch.Tensor | None = None  # (C, L, h, w): mean over the last `map_steps` steps, per captured layer


def _prompt_text(item) -> str:
    if isinstance(item, str):
        return item
    return mark_part(item.prompt, getattr(item, "part", None))


@torch.no_grad()
def generate_images(model, prompts: Sequence, seeds: Sequence[int], steps: int = 4, resolution: int | None = None,
                    map_steps: int = 0) -> list[Generated]:
    """One image per (prompt, seed); the same pair gives the same image (CPU generator: same noise on any device)."""
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    pipe = model.components.pipeline()
    pipe.set_progress_bar_config(disable=True)
    size = resolution or model.config.resolution
    out = []
    from partbench.console import progress_bar

    with progress_bar(transient=True) as bar:
        task = bar.add_task("partconcepts: generating", total=len(prompts), note="")
        for item, seed in zip(prompts, seeds):
            text = _prompt_text(item)
            enc = model.encoder.encode([text])
            grid = size // model.token_stride
            maps: list[torch.Tensor] = []
            with model.capture.recording(enc.concept_positions, enc.embeds.shape[1]) as rec:
                rec.enabled = map_steps > 0

                def on_step(_pipe, i, _t, kwargs, *, maps=maps):
                    # keep only the final `map_steps` steps' maps; each step appends one map per captured layer
                    if map_steps and i >= steps - map_steps:
                        maps.append(torch.stack(rec.maps[-len(rec.layers):], dim=1))
                    rec.maps.clear()
                    return kwargs

                image = pipe(prompt_embeds=enc.embeds.to(model.transformer.dtype), height=size, width=size,
                             num_inference_steps=steps, guidance_scale=1.0,
                             generator=torch.Generator("cpu").manual_seed(int(seed)),
                             callback_on_step_end=on_step).images[0]
            phrase_maps = None
            if maps:
                m = torch.stack(maps).mean(0)[0]  # (L, C, N)
                phrase_maps = m.transpose(0, 1).reshape(m.shape[1], m.shape[0], grid, grid).float().cpu()
            out.append(Generated(image, enc.phrases[0], phrase_maps))
            bar.advance(task)
    return out
