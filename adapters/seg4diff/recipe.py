"""What a `seg4diff` run records about its recipe (config.json's `method_config`), without loading a model: the
resolved options, the weights, the noise level, and whether the recipe is upstream's or a variant, with every
departure from upstream's code named (docs/seg4diff.md explains each)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .options import DEFAULT_LAYER, DEFAULT_STEPS, NOISE_STEP, Seg4DiffOptions, tiny_config

ALWAYS = (
    "noise seeded (CPU torch.Generator(seed)); upstream's is unseeded",
    "image resized once to resolution² (upstream first resizes the shortest edge to 640, then to 1024²)",
    "maps upsampled once, bilinearly, to the image (upstream: to the 640-edge input, then to the original size)",
    "attention probabilities computed in float32 from the model's queries and keys",
)


def _scheduler(options: Seg4DiffOptions, path: Path | None) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    if path is not None:
        return FlowMatchEulerDiscreteScheduler.from_pretrained(path, subfolder="scheduler")
    if options.model == "flux":
        from .flux import FLUX_SCHEDULER

        return FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER)
    return FlowMatchEulerDiscreteScheduler(shift=3.0)


def _vae(options: Seg4DiffOptions, path: Path | None) -> tuple[int, int]:
    """(pixels per latent pixel, latent channels) from the tiny config or the weights' vae/config.json."""
    if path is None:
        config = tiny_config(options.model)
        return 2 ** (len(config["vae_block_out_channels"]) - 1), int(config["latent_channels"])
    config = json.loads((path / "vae" / "config.json").read_text(encoding="utf-8"))
    return 2 ** (len(config["block_out_channels"]) - 1), int(config["latent_channels"])


def noise_level(options: Seg4DiffOptions, path: Path | None) -> dict[str, Any]:
    """The schedule entry the image is noised at: the same computation as the backbones'."""
    from .backbone import set_schedule

    scheduler = _scheduler(options, path)
    tokens = None
    if options.model == "flux":
        scale, channels = _vae(options, path)
        side = options.resolution // scale
        tokens = channels if options.flux_recipe == "upstream" else (side // 2) ** 2
    set_schedule(scheduler, options.steps, tokens)
    index = len(scheduler.timesteps) - options.noise_step
    out = {"steps": options.steps, "index": -options.noise_step, "timestep": float(scheduler.timesteps[index]),
           "sigma": float(scheduler.sigmas[index])}
    return out | ({"shift_tokens": tokens} if tokens is not None else {})


def departures(options: Seg4DiffOptions) -> list[str]:
    out = list(ALWAYS)
    if options.prompt == "all":
        out.append("prompt names every part the sample may have; upstream names only those in the ground truth "
                   "(GT_ONLY_PROMPT, prompt=gt-present)")
    if options.model == "flux" and options.flux_recipe == "pipeline":
        out.append("FLUX.1: schedule shift mu for the image's token count and VAE input in [-1, 1], as FluxPipeline "
                   "(upstream's code: mu for 16 tokens, input in [0, 1]; flux_recipe=upstream)")
    if options.model == "flux":
        out.append(f"FLUX.1: layer {options.layer}; the paper names double blocks 12 and 17 but not which gave its "
                   "Table 1 row")
    changed = [f"{k}={getattr(options, k)}" for k, default in
               (("resolution", 1024), ("steps", DEFAULT_STEPS[options.model]), ("noise_step", NOISE_STEP))
               if getattr(options, k) != default]
    if options.model != "flux" and options.layer != DEFAULT_LAYER[options.model]:
        changed.append(f"layer={options.layer} (the expert is {DEFAULT_LAYER[options.model]})")
    if options.lora:
        changed.append("MAGNET LoRA loaded")
    if changed:
        out.append("settings other than upstream's: " + ", ".join(changed))
    return out


def definition(options: Seg4DiffOptions) -> str:
    """`reference (...)` when every setting upstream fixes is upstream's (the fixed departures aside), else
    `variant`."""
    upstream = (options.resolution == 1024 and options.steps == DEFAULT_STEPS[options.model]
                and options.noise_step == NOISE_STEP and options.prompt == "gt-present"
                and options.layer == DEFAULT_LAYER[options.model]
                and (options.model != "flux" or options.flux_recipe == "upstream"))
    return f"reference (Seg4Diff eval_ovss, {options.label()})" if upstream else "variant"


def describe(options: Seg4DiffOptions, path: Path | None, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "options": options.identity() | {"device": options.device}, "definition": definition(options),
        "departures": departures(options), "noise": noise_level(options, path) | {"seed": seed},
        "text": "CLIP-L + CLIP-G, no T5 (text_encoder_3=None: 77 zero tokens in the joint sequence)"
                if options.model != "flux" else f"T5 ({options.max_sequence_length} tokens) + CLIP pooled",
        "prompt": {"all": "every allowed part", "gt-present": "the parts in the ground truth"}[options.prompt]
                  + f", names as {options.part_text}, joined by spaces; overflow={options.overflow}",
    }
    if path is None:
        out |= {"model": f"tiny random {options.label()} (preset=tiny)", "config": tiny_config(options.model),
                "init_seed": seed}
    else:
        from partbench.weights import snapshot_revision

        out |= {"model": options.weights, "path": str(path), "revision": options.revision or snapshot_revision(path)}
    if options.lora:
        out["lora"] = str(Path(options.lora).expanduser())
    return out
