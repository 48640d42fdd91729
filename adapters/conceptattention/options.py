"""The `--method-arg` options of `conceptattention`, with the defaults that depend on the model resolved.

`layers`, `order`, `temperature` and `sigmas` left unset take the chosen model's upstream recipe; any explicit `-a`
value wins. Where each recipe comes from is written out in docs/conceptattention.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from partbench.errors import PartbenchError

METHOD = "conceptattention"
DEFAULT_WEIGHTS = "black-forest-labs/FLUX.1-schnell"
DEFAULT_WEIGHTS_FLUX2 = "black-forest-labs/FLUX.2-klein-4B"
REFERENCE_BACKGROUND = "background,floor,tree,person,grass,face"
TINY_RESOLUTION = 32

# FLUX.1: the BFL-code reference (`ConceptAttentionFluxPipeline.encode_image`, flux/pipeline.py: double blocks 15-18
# of 19, num_steps 4, noise_timestep 2, softmax per map, then the mean; the VAE posterior sampled, autoencoder.py
# DiagonalGaussian(sample=True)). Its sigma is entry 2 of `get_schedule(4, seq_len, shift=not is_schnell)`: 0.5 for
# schnell, the shifted value for dev (`flux1_sigma`).
FLUX1_DEFAULTS = {"layers": "last4", "order": "softmax_then_mean", "temperature": 1.0, "latent": "sample"}
FLUX1_SCHEDULE_STEPS, FLUX1_NOISE_INDEX = 4, 2
# FLUX.2: ConceptAttention's FLUX.2 port: the last 3 double blocks, mean over timesteps and layers then
# softmax(scores / 1000) over concepts, and the sigma of its 4-step schedule at entry 2 (`flux2_port_sigma`).
FLUX2_DEFAULTS = {"layers": "last3", "order": "mean_then_softmax", "temperature": 1000.0, "latent": "mode"}
FLUX2_SCHEDULE_STEPS, FLUX2_NOISE_INDEX = 4, 2
FLUX2_PIXELS_PER_TOKEN = 16  # AutoencoderKLFlux2: 8x downsampling, then 2x2 patchify
# Part of every model=flux2 fingerprint: prediction cache keys hold the -a args as passed, not the resolved options,
# so a change of FLUX.2's defaults must change the fingerprint for cached predictions to be recomputed.
FLUX2_DEFAULTS_VERSION = "2"

_CHOICES = {"softmax": ("concepts", "patches", "none"), "order": ("softmax_then_mean", "mean_then_softmax"),
            "projection": ("pre", "post"), "pooled": ("zeros", "clip"), "resize": ("nearest", "bilinear"),
            "preset": (None, "tiny"), "dtype": ("float32", "bfloat16", "float16"), "model": ("flux1", "flux2"),
            "latent": ("sample", "mode")}


def is_schnell(weights: str) -> bool:
    """Upstream decides the schedule by model name (`model_name == "flux-schnell"`); partbench by the weights' name."""
    return "schnell" in weights.lower()


def flux1_sigma(image_seq_len: int, schnell: bool, num_steps: int = FLUX1_SCHEDULE_STEPS,
                index: int = FLUX1_NOISE_INDEX) -> float:
    """Entry `index` of BFL FLUX.1's `get_schedule(num_steps, image_seq_len, shift=not schnell)`: t on the uniform
    grid from 1 to 0, shifted for dev by t' = e^mu / (e^mu + (1/t - 1)) with mu linear in the token count from 0.5 at
    256 tokens to 1.15 at 4096 (flux/sampling.py `get_lin_function`, `time_shift`)."""
    t = 1 - index / num_steps
    if schnell or t <= 0:
        return t
    mu = 0.5 + (1.15 - 0.5) / (4096 - 256) * (image_seq_len - 256)
    e = math.exp(mu)
    return e / (e + (1 / t - 1))


def flux2_shift_mu(image_seq_len: int, num_steps: int) -> float:
    """FLUX.2's empirical time-shift parameter for a latent of `image_seq_len` tokens and `num_steps` steps
    (BFL flux2 `sampling.compute_empirical_mu`, also diffusers' FLUX.2 pipelines): linear in the token count, fitted
    at 10 and 200 steps and interpolated in the step count below 4300 tokens; the 200-step line above."""
    at_200 = 0.00016927 * image_seq_len + 0.45666666
    if image_seq_len > 4300:
        return at_200
    at_10 = 8.73809524e-05 * image_seq_len + 1.89833333
    return at_200 + (num_steps - 200) * (at_200 - at_10) / 190.0


def flux2_port_sigma(image_seq_len: int, num_steps: int = FLUX2_SCHEDULE_STEPS,
                     index: int = FLUX2_NOISE_INDEX) -> float:
    """Entry `index` of FLUX.2's shifted schedule: t = 1 - index/num_steps on the uniform grid, then
    t' = e^mu / (e^mu + (1/t - 1)) (BFL flux2 `get_schedule` / `generalized_time_snr_shift` with sigma 1)."""
    t = 1 - index / num_steps
    if t <= 0:
        return 0.0
    e = math.exp(flux2_shift_mu(image_seq_len, num_steps))
    return e / (e + (1 / t - 1))


@dataclass(frozen=True)
class ConceptAttentionOptions:
    model: str = "flux1"  # flux1: FluxTransformer2DModel; flux2: Flux2Transformer2DModel (Klein)
    weights: str | None = None  # default DEFAULT_WEIGHTS (flux1) or DEFAULT_WEIGHTS_FLUX2 (flux2)
    revision: str | None = None
    preset: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    resolution: int | None = None  # default 1024 (tiny: 32)
    # sigmas, layers, order and temperature left None take the model's defaults (FLUX1_DEFAULTS, or FLUX2_DEFAULTS
    # and flux2_port_sigma at this resolution), so every explicit -a value wins.
    sigmas: str | None = None  # comma-separated noise levels, one forward batch
    draws: int = 1  # noise draws per sigma, averaged
    layers: str | None = None  # "lastK" or comma-separated 0-based double-block indices
    softmax: str = "concepts"
    order: str | None = None
    temperature: float | None = None
    projection: str = "pre"
    pooled: str = "zeros"
    prompt: str = ""  # caption run in the text stream; "{object}" is replaced by the sample's object class
    background: str = REFERENCE_BACKGROUND
    resize: str = "nearest"
    max_sequence_length: int | None = None  # default 256 (schnell's T5 length; flux2: Klein's 512)
    # The clean latent: a seeded draw from the VAE posterior (FLUX.1 reference) or its mode (FLUX.2 port).
    latent: str | None = None

    def __post_init__(self):
        if self.weights is None:
            object.__setattr__(self, "weights", DEFAULT_WEIGHTS_FLUX2 if self.model == "flux2" else DEFAULT_WEIGHTS)
        if self.max_sequence_length is None:
            object.__setattr__(self, "max_sequence_length", 512 if self.model == "flux2" else 256)
        defaults = dict(FLUX2_DEFAULTS) if self.model == "flux2" else dict(FLUX1_DEFAULTS)
        if self.model == "flux2" and self.sigmas is None:
            defaults["sigmas"] = f"{flux2_port_sigma(self.latent_tokens()):.6f}"
        elif self.sigmas is None:
            schnell = self.preset == "tiny" or is_schnell(self.weights)
            defaults["sigmas"] = f"{flux1_sigma(self.latent_tokens(), schnell):.6f}".rstrip("0").rstrip(".")
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def latent_tokens(self) -> int:
        """Image tokens of one latent at `resolution` (the `image_seq_len` of FLUX.2's schedule shift)."""
        if self.model == "flux2" and self.preset == "tiny":
            from partbench.tiny_models.flux2_tiny import TinyFlux2Config

            per_token = 2 ** len(TinyFlux2Config().vae_block_out_channels)  # VAE 2^(n-1), then 2x2 patchify
        else:
            per_token = FLUX2_PIXELS_PER_TOKEN  # FLUX.1 too: 8x VAE, 2x2 packing
        return (self.image_size() // per_token) ** 2

    @classmethod
    def from_args(cls, args: dict[str, str]) -> ConceptAttentionOptions:
        types = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(args) - set(types))
        if unknown:
            raise PartbenchError(f"Method {METHOD!r}: unknown --method-arg {unknown} "
                                 f"(known: {', '.join(sorted(types))}).")
        opts: dict[str, Any] = {}
        for k, v in args.items():
            try:
                opts[k] = int(v) if "int" in str(types[k]) else float(v) if "float" in str(types[k]) else v
            except ValueError:
                raise PartbenchError(f"Method {METHOD!r}: {k} must be a number, got {v!r}.") from None
        out = cls(**opts)
        for k, allowed in _CHOICES.items():
            if getattr(out, k) not in allowed:
                raise PartbenchError(f"Method {METHOD!r}: {k} must be one of {[a for a in allowed if a]}, "
                                     f"got {getattr(out, k)!r}.")
        if out.model == "flux2" and out.pooled != "zeros":
            raise PartbenchError(f"Method {METHOD!r}: pooled={out.pooled} needs model=flux1 (FLUX.2 has no pooled "
                                 "vector; its concepts share the text stream's modulation).")
        if not out.temperature > 0:
            raise PartbenchError(f"Method {METHOD!r}: temperature must be a positive number, got {out.temperature!r}.")
        out.sigma_values()
        return out

    def model_label(self) -> str:
        return "FLUX.2" if self.model == "flux2" else "FLUX.1"

    def sigma_values(self) -> list[float]:
        try:
            values = [float(s) for s in self.sigmas.split(",") if s.strip()]
        except ValueError:
            values = []
        if not values or not all(0 < v <= 1 for v in values):
            raise PartbenchError(f"Method {METHOD!r}: sigmas must be comma-separated numbers in (0, 1], "
                                 f"got {self.sigmas!r}.")
        return values

    def layer_indices(self, n_blocks: int) -> list[int]:
        if self.layers.startswith("last"):
            k = int(self.layers[4:] or 1)
            return list(range(max(n_blocks - k, 0), n_blocks))
        try:
            return sorted({int(x) for x in self.layers.split(",")})
        except ValueError:
            raise PartbenchError(f"Method {METHOD!r}: layers must be lastK or comma-separated block indices, "
                                 f"got {self.layers!r}.") from None

    def image_size(self) -> int:
        return self.resolution or (TINY_RESOLUTION if self.preset == "tiny" else 1024)
