"""Base models PartConcepts builds on: the tiny offline preset, or a real FLUX.2 Klein checkpoint found locally.

Nothing downloads: `klein` resolves `base_model` (a local directory or a Hugging Face repo id already in the cache)
with `partbench.weights.resolve_model`, which otherwise raises an error saying how to get it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError

PRESETS = ("tiny", "klein")
# `--base-model` names for FLUX.2 Klein. The paper trains and generates with Klein 9B; 4B and the non-distilled
# `klein-base` checkpoints are named options (any local path or cached repo id works too).
KLEIN_MODELS = {"9B": "black-forest-labs/FLUX.2-klein-9B", "4B": "black-forest-labs/FLUX.2-klein-4B",
                "base-9B": "black-forest-labs/FLUX.2-klein-base-9B",
                "base-4B": "black-forest-labs/FLUX.2-klein-base-4B"}
DEFAULT_KLEIN = KLEIN_MODELS["9B"]
# Checkpoints written before the default became 9B stored base_model None, meaning 4B: they keep loading 4B.
LEGACY_KLEIN = KLEIN_MODELS["4B"]
# lambda of L = Dice + lambda * flow, per task the checkpoint is trained for. The paper gives 0.25 for text-to-image
# generation and says the best value differs per task without giving the segmentation one: segmentation uses the
# same 0.25 until tuned (an assumption, listed in docs/partconcepts.md).
TASK_FLOW_WEIGHT = {"segmentation": 0.25, "generation": 0.25}


@dataclass(frozen=True)
class PartConceptsConfig:
    """Everything that shapes a PartConcepts model and its training; stored in every checkpoint's config.json."""

    preset: str = "tiny"
    base_model: str | None = None  # klein: a KLEIN_MODELS name, local path or cached HF repo id (None: LEGACY_KLEIN)
    tiny_seed: int = 0  # tiny: seed of the random base weights
    dtype: str = "float32"  # klein on GPU: bfloat16
    concept_lora_rank: int = 128  # paper: 128
    dit_lora_rank: int = 4  # paper: 4
    # "lora": the paper's recipe (LoRAs + decoder). "full": also train the text encoder and the mmDiT themselves,
    # needed by the tiny preset, whose random base has no prior for LoRAs to adapt.
    trainable: str = "lora"
    pooling: str = "last"
    capture_layers: str = "all"
    decoder_width: int = 32
    resolution: int = 512  # square model input (pixels)
    crop: str = "object"  # oracle-object setting: "object" crops the object's box; "none" uses the whole image
    crop_margin: float = 0.1
    noise: float = 0.5  # sigma of the fixed noise level at segmentation inference
    flow_weight: float = 0.25  # lambda of  L = dice + lambda * flow  (paper: 0.25 for generation)
    map_scale: str = "keys"  # attention maps are multiplied by the number of keys (uniform attention -> 1)
    # "vae": the VAE's own latent normalisation; "calibrate": measured on the training crops before training (tiny
    # preset: a random VAE has none, see PartConceptsModel.calibrate_latent_statistics).
    latent_stats: str = "vae"

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise PartbenchError(f"PartConcepts: unknown preset {self.preset!r} (known: {', '.join(PRESETS)}).")
        if self.trainable not in ("lora", "full"):
            raise PartbenchError(f"PartConcepts: trainable must be 'lora' or 'full', got {self.trainable!r}.")
        if self.crop not in ("object", "none"):
            raise PartbenchError(f"PartConcepts: crop must be 'object' or 'none', got {self.crop!r}.")
        if self.latent_stats not in ("vae", "calibrate"):
            raise PartbenchError(f"PartConcepts: latent_stats must be 'vae' or 'calibrate', got {self.latent_stats!r}.")
        if not 0.0 <= self.noise <= 1.0:
            raise PartbenchError(f"PartConcepts: noise (sigma) must be in [0, 1], got {self.noise}.")
        for option, value in (("--resolution", self.resolution), ("--concept-lora-rank", self.concept_lora_rank),
                              ("dit_lora_rank", self.dit_lora_rank), ("decoder_width", self.decoder_width)):
            if value < 1:
                raise PartbenchError(f"PartConcepts: {option} must be a positive integer, got {value}.")
        for option, value in (("--flow-weight", self.flow_weight), ("crop_margin", self.crop_margin)):
            if not value >= 0:
                raise PartbenchError(f"PartConcepts: {option} must be >= 0, got {value}.")

    @classmethod
    def for_preset(cls, preset: str, **overrides: Any) -> PartConceptsConfig:
        """Defaults per preset. Tiny deviates from the paper (documented in docs/partconcepts.md): full training of a
        random base, small LoRA ranks (hidden size 32), 64-pixel crops."""
        base: dict[str, Any] = {"preset": preset}
        if preset == "klein":
            # recorded explicitly, so that a checkpoint names the model it was trained on whatever the default
            name = overrides.get("base_model") or "9B"
            base["base_model"] = KLEIN_MODELS.get(name, name)
            overrides = {k: v for k, v in overrides.items() if k != "base_model"}
        if preset == "tiny":
            base |= {"concept_lora_rank": 16, "dit_lora_rank": 4, "trainable": "full", "resolution": 64,
                     "decoder_width": 32, "flow_weight": 0.1, "latent_stats": "calibrate", "noise": 0.3}
        return cls(**(base | {k: v for k, v in overrides.items() if v is not None}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PartConceptsConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def build_components(config: PartConceptsConfig):
    """The base model's components (a `partbench.tiny_models.flux2_tiny.Flux2Components`)."""
    if config.preset == "tiny":
        import torch

        from partbench.tiny_models.flux2_tiny import tiny_flux2_components

        comps = tiny_flux2_components(config.tiny_seed)
        if config.dtype != "float32":  # e.g. bfloat16, to exercise the mixed-precision path on the tiny model
            for module in (comps.text_encoder, comps.transformer, comps.vae):
                module.to(getattr(torch, config.dtype))
        return comps
    return load_klein(KLEIN_MODELS.get(config.base_model or "", config.base_model or LEGACY_KLEIN), config.dtype)


def check_base_model_name(name: str) -> None:
    """Refuse a `--base-model` that is neither a Klein size name, a repo id nor a local path (`8B`), listing them."""
    if name not in KLEIN_MODELS and "/" not in name and not Path(name).expanduser().exists():
        raise PartbenchError(f"PartConcepts: --base-model {name!r} is not one of {', '.join(KLEIN_MODELS)}, a local "
                             "folder or a Hugging Face repo id (owner/name).")


def load_klein(ref: str, dtype: str = "bfloat16"):
    """A FLUX.2 Klein checkpoint from a local path or the HF cache (never downloaded)."""
    import torch
    from diffusers import Flux2KleinPipeline

    from partbench.tiny_models.flux2_tiny import Flux2Components
    from partbench.weights import resolve_model

    path = resolve_model(ref, what="FLUX.2 Klein base model (PartConcepts)",
                         option="`partbench train partconcepts --base-model PATH`")
    try:
        pipe = Flux2KleinPipeline.from_pretrained(path, torch_dtype=getattr(torch, dtype), local_files_only=True)
    except (OSError, ValueError) as e:
        raise PartbenchError(f"PartConcepts: cannot load FLUX.2 Klein from {path} ({e}).") from None
    # The sampler kind generation uses: BFL's step-distilled Klein checkpoints say `"is_distilled": true` in
    # model_index.json; the klein-base ones do not (diffusers' default False), and need guidance and ~50 steps.
    sampler = "distilled" if pipe.config.get("is_distilled", False) else "base"
    return Flux2Components(transformer=pipe.transformer, vae=pipe.vae, text_encoder=pipe.text_encoder,
                           tokenizer=pipe.tokenizer, scheduler=pipe.scheduler, base_layers=(9, 18, 27),
                           max_sequence_length=512, preset="klein",
                           description={"preset": "klein", "base_model": ref, "path": str(path), "dtype": dtype,
                                        "sampler": sampler})
