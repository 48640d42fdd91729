"""Base models PartConcepts builds on: the tiny offline preset, or a real FLUX.2 Klein checkpoint found locally.

Nothing downloads: `klein` resolves `base_model` (a local directory or a Hugging Face repo id already in the cache)
with `partbench.weights.resolve_model`, which otherwise raises an error saying how to get it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from partbench.errors import PartbenchError

PRESETS = ("tiny", "klein")
DEFAULT_KLEIN = "black-forest-labs/FLUX.2-klein-4B"


@dataclass(frozen=True)
class PartConceptsConfig:
    """Everything that shapes a PartConcepts model and its training; stored in every checkpoint's config.json."""

    preset: str = "tiny"
    base_model: str | None = None  # klein: local path or cached HF repo id (default DEFAULT_KLEIN)
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

    @classmethod
    def for_preset(cls, preset: str, **overrides: Any) -> PartConceptsConfig:
        """Defaults per preset. Tiny deviates from the paper (documented in docs/partconcepts.md): full training of a
        random base, small LoRA ranks (hidden size 32), 64-pixel crops."""
        base: dict[str, Any] = {"preset": preset}
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
        from partbench.tiny_models.flux2_tiny import tiny_flux2_components

        return tiny_flux2_components(config.tiny_seed)
    return load_klein(config.base_model or DEFAULT_KLEIN, config.dtype)


def load_klein(ref: str, dtype: str = "bfloat16"):
    """A FLUX.2 Klein checkpoint from a local path or the HF cache (never downloaded)."""
    import torch
    from diffusers import Flux2KleinPipeline

    from partbench.tiny_models.flux2_tiny import Flux2Components
    from partbench.weights import resolve_model

    path = resolve_model(ref, what="FLUX.2 Klein base model (PartConcepts)", arg="base_model")
    try:
        pipe = Flux2KleinPipeline.from_pretrained(path, torch_dtype=getattr(torch, dtype), local_files_only=True)
    except (OSError, ValueError) as e:
        raise PartbenchError(f"PartConcepts: cannot load FLUX.2 Klein from {path} ({e}).") from None
    return Flux2Components(transformer=pipe.transformer, vae=pipe.vae, text_encoder=pipe.text_encoder,
                           tokenizer=pipe.tokenizer, scheduler=pipe.scheduler, base_layers=(9, 18, 27),
                           max_sequence_length=512, preset="klein",
                           description={"preset": "klein", "base_model": ref, "path": str(path), "dtype": dtype})
