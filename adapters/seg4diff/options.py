"""The `--method-arg` options of `seg4diff`, each model's defaults, and the layer arguments (`layer`, `layers`).

Defaults follow the upstream evaluation recipe (cvlab-kaist/Seg4Diff `configs/eval_ovss.yaml`, `seg4diff/config.py`,
the `*_backbone.py` files); docs/seg4diff.md says where each one comes from and lists every departure.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from partbench.api.method import Param, check_method_args
from partbench.errors import PartbenchError

METHOD = "seg4diff"
MODELS = ("sd3", "sd35", "flux")
DEFAULT_WEIGHTS = {"sd3": "stabilityai/stable-diffusion-3-medium-diffusers",
                   "sd35": "stabilityai/stable-diffusion-3.5-medium",
                   "flux": "black-forest-labs/FLUX.1-dev"}
GATED = "gated on Hugging Face: accept the model's licence on its page, then `huggingface-cli login` before downloading"
# The grounding expert: block 9 of SD3 and SD3.5 (paper §3, Appx C). For FLUX.1 the paper names double blocks 12 and
# 17 without saying which gave its Table 1 row; 12 is the default (docs/seg4diff.md says why).
DEFAULT_LAYER = {"sd3": 9, "sd35": 9, "flux": 12}
# Upstream: 28 Euler steps for SD3/SD3.5 (NUM_INFERENCE_STEPS), 50 hard-coded in the FLUX backbone; noise once at
# timesteps[-8] (NOISE_STEPS: 8).
DEFAULT_STEPS = {"sd3": 28, "sd35": 28, "flux": 50}
NOISE_STEP = 8
TINY_RESOLUTION = 32

PARAMS = (
    Param("model", str, "sd3", choices=MODELS, help="sd3: SD3-medium; sd35: SD3.5-medium; flux: FLUX.1-dev"),
    Param("weights", str, help="HF repo id or local pipeline folder (default: the model's; never downloaded)"),
    Param("revision", str, help="HF revision"),
    Param("preset", str, choices=("tiny",), help="tiny: random model from a config (smoke test, not meaningful)"),
    Param("lora", Path, help="MAGNET LoRA file (lora_weights.pth of chyun/seg4diff-coco-lora or -sa1b-lora)"),
    Param("layer", int, min=0, help="the expert block (0-based; FLUX: double blocks 0-18, then single blocks); "
                                    "default 9 (sd3, sd35) or 12 (flux)"),
    Param("layers", str, help="sweep: all, or blocks like 0-5,9: one run per block (seg4diff@layer=K), one forward"),
    Param("prompt", str, "all", choices=("all", "gt-present"),
          help="all: every part the sample may have; gt-present: only those in its ground truth (upstream)"),
    Param("part_text", str, "object-part", choices=("object-part", "part"),
          help="object-part: \"dog's head\" -> \"dog head\"; part: \"head\""),
    Param("overflow", str, "split", choices=("split", "refuse"),
          help="names over the text encoder's length: split them over several prompts, or refuse"),
    Param("resolution", int, min=16, help="square side the image is resized to (default 1024; tiny: 32)"),
    Param("steps", int, min=1, help="Euler steps of the schedule the noise level comes from (default 28; flux 50)"),
    Param("noise_step", int, NOISE_STEP, min=1, help="noise at timesteps[-noise_step] of that schedule"),
    Param("guidance", float, 3.5, min=0, help="FLUX.1's embedded guidance (no classifier-free guidance)"),
    Param("flux_recipe", str, "pipeline", choices=("pipeline", "upstream"),
          help="pipeline: FluxPipeline's shift and [-1,1] pixels; upstream: the upstream FLUX code's (see docs)"),
    Param("max_sequence_length", int, 512, min=8, max=512, help="FLUX.1's T5 tokens"),
    Param("device", str, "auto", help="auto | cpu | cuda | cuda:N"),
    Param("dtype", str, "float32", choices=("float32", "float16", "bfloat16")),
)
FLUX_ONLY = ("guidance", "flux_recipe", "max_sequence_length")


@dataclass(frozen=True)
class Seg4DiffOptions:
    model: str = "sd3"
    weights: str | None = None
    revision: str | None = None
    preset: str | None = None
    lora: str | None = None
    layer: int | None = None
    layers: str | None = None
    prompt: str = "all"
    part_text: str = "object-part"
    overflow: str = "split"
    resolution: int | None = None
    steps: int | None = None
    noise_step: int = NOISE_STEP
    guidance: float = 3.5
    flux_recipe: str = "pipeline"
    max_sequence_length: int = 512
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self):
        for name, value in (("weights", DEFAULT_WEIGHTS[self.model]), ("layer", DEFAULT_LAYER[self.model]),
                            ("steps", DEFAULT_STEPS[self.model]),
                            ("resolution", TINY_RESOLUTION if self.preset == "tiny" else 1024)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @classmethod
    def from_args(cls, args: dict[str, str]) -> Seg4DiffOptions:
        values = check_method_args(METHOD, PARAMS, args)
        model = values.get("model", "sd3")
        misplaced = sorted(k for k in FLUX_ONLY if k in values and model != "flux")
        if misplaced:
            raise PartbenchError(f"Method {METHOD!r}: {', '.join(misplaced)} only apply to model=flux.")
        if "lora" in values:
            values["lora"] = str(values["lora"])
        out = cls(**{k: v for k, v in values.items() if k in {f.name for f in fields(cls)}})
        if out.noise_step > out.steps:
            raise PartbenchError(f"Method {METHOD!r}: noise_step={out.noise_step} is beyond a {out.steps}-step "
                                 "schedule.")
        return out

    def identity(self) -> dict[str, Any]:
        """The resolved options that can change a prediction (all but the device): part of the fingerprint."""
        out = asdict(self)
        del out["device"]
        return out if self.model == "flux" else {k: v for k, v in out.items() if k not in FLUX_ONLY}

    def label(self) -> str:
        return {"sd3": "SD3", "sd35": "SD3.5", "flux": "FLUX.1"}[self.model]


def tiny_flux_config():
    """partbench's tiny FLUX.1 (`TinyFlux1Config`) with dev's guidance embedding and 13 double blocks, so that block
    12 (the default layer) is a double block as in FLUX.1-dev, plus 2 single blocks."""
    from partbench.tiny_models.flux1_tiny import TinyFlux1Config

    return TinyFlux1Config(num_layers=13, num_single_layers=2, guidance_embeds=True)


def tiny_config(model: str) -> dict[str, Any]:
    """The tiny preset's config (part of its fingerprint)."""
    if model == "flux":
        return tiny_flux_config().to_dict()
    from partbench.tiny_models.sd3_tiny import TinySD3Config

    return TinySD3Config().to_dict() | {"dual": model == "sd35"}


def block_count(options: Seg4DiffOptions, path: Path | None) -> int:
    """How many blocks can be captured: joint blocks (SD3), double then single blocks (FLUX), read from the tiny
    config or the weights' transformer/config.json (nothing is loaded)."""
    if path is None:
        config = tiny_config(options.model)
    else:
        file = path / "transformer" / "config.json"
        if not file.is_file():
            raise PartbenchError(f"{options.label()} model at {path} has no transformer/config.json; pass a "
                                 f"diffusers pipeline folder (as {DEFAULT_WEIGHTS[options.model]}) with "
                                 "--method-arg weights=PATH.")
        config = json.loads(file.read_text(encoding="utf-8"))
    return int(config["num_layers"]) + (int(config.get("num_single_layers", 0)) if options.model == "flux" else 0)


def check_layer(layer: int, n_blocks: int, options: Seg4DiffOptions) -> int:
    if not 0 <= layer < n_blocks:
        raise PartbenchError(f"Method {METHOD!r}: layer {layer} is out of range; this {options.label()} model has "
                             f"{n_blocks} blocks (0-{n_blocks - 1}).")
    return layer


def parse_layers(text: str, n_blocks: int, options: Seg4DiffOptions) -> list[int]:
    """`all`, or comma-separated blocks and ranges (`0-5,9`), as sorted distinct block indices."""
    if text.strip() == "all":
        return list(range(n_blocks))
    out: set[int] = set()
    try:
        for item in text.split(","):
            lo, sep, hi = item.strip().partition("-")
            out.update(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise PartbenchError(f"Method {METHOD!r}: layers must be all or blocks like 0-5,9; got {text!r}.") from None
    if not out:
        raise PartbenchError(f"Method {METHOD!r}: layers names no block: {text!r}.")
    return [check_layer(k, n_blocks, options) for k in sorted(out)]


def weights_path(options: Seg4DiffOptions) -> Path | None:
    """The weights folder (None for the tiny preset); an offline error naming what to fetch when absent."""
    if options.preset == "tiny":
        return None
    from partbench.weights import WeightsNotFoundError, resolve_model

    try:
        return resolve_model(options.weights, what=f"{options.label()} model (Seg4Diff)", revision=options.revision)
    except WeightsNotFoundError as e:
        if options.weights == DEFAULT_WEIGHTS[options.model]:  # all three default models are gated
            raise WeightsNotFoundError(f"{e} {options.weights} is {GATED}.") from None
        raise
