"""The `--method-arg` options of `conceptattention`, with the defaults that depend on the model and recipe resolved.

`layers`, `order`, `temperature` and `sigmas` left unset take the chosen model's upstream recipe; `recipe=multiclass`
(FLUX.1) swaps in the paper's multi-class segmentation recipe for `layers`, `sigmas`, `softmax`, `normalize`,
`background`, `prompt` and `argmax`. Any explicit `-a` value wins. Where each recipe comes from is written out in
docs/conceptattention.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from partbench.api.method import Param, check_method_args
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
# Options whose defaults are the same for both models under the default recipe (`encode_image`).
COMMON_DEFAULTS = {"softmax": "concepts", "normalize": "none", "background": REFERENCE_BACKGROUND, "prompt": "",
                   "argmax": "parts"}

# FLUX.1, recipe=multiclass: the paper's multi-class segmentation experiment, helblazer811/ConceptAttention (line
# numbers at db30c4d; the code cited is the same at its first commit 9c69fd5):
# - experiments/pascal_voc_segmentation/run_multi_class_seg_experiment.py L64-76: normalize_concepts True, softmax
#   False, num_steps 4, noise_timestep 3, layers range(14, 18), background concepts background/floor/grass/tree/sky;
#   L150-170: caption ",".join(f"a {class}") of the classes present, RawOutputSpace = target_space "output";
# - experiments/pascal_voc_segmentation/multi_class_segmentation.py L36-77: concepts = background + targets, heatmaps
#   = image vectors . concept vectors summed over layers (einsum over the flattened layers x dim), argmax over all;
# - concept_attention/segmentation.py L200-211: add_noise_to_image(..., is_schnell=False), i.e. the schedule is
#   shifted for schnell too; L284-318: the chosen double blocks' attention outputs before `proj`
#   (modified_double_stream_block.py L322-339 at 9c69fd5), then
#   linear_normalization(concept_vectors, dim=-2) (utils.py L71-80): over the concept axis, per feature and per
#   (layer, noise sample), before the dot product; the image vectors are not normalised.
MULTICLASS_LAYERS = (14, 15, 16, 17)  # 0-based, of FLUX.1's 19 double blocks: the four before the last
MULTICLASS_NOISE_INDEX = 3
MULTICLASS_DEFAULTS = {"softmax": "none", "normalize": "concepts", "background": "background,floor,grass,tree,sky",
                       "prompt": "{parts}", "argmax": "all"}
# Part of every recipe=multiclass fingerprint (the cache key holds `-a recipe=multiclass`, not what it resolves to):
# bump it when the recipe's resolved values change.
MULTICLASS_RECIPE_VERSION = "1"

PARAMS = (
    Param("model", str, "flux1", choices=("flux1", "flux2"),
          help="flux1: FluxTransformer2DModel; flux2: Flux2Transformer2DModel (Klein)"),
    Param("weights", str,
          help=f"HF repo id or local folder (default {DEFAULT_WEIGHTS}; flux2 {DEFAULT_WEIGHTS_FLUX2})"),
    Param("revision", str, help="HF revision"),
    Param("preset", str, choices=("tiny",), help="tiny: random model from a config (smoke test, not meaningful)"),
    Param("recipe", str, "encode_image", choices=("encode_image", "multiclass"),
          help="encode_image: the model's demo API; multiclass (flux1): the paper's multi-class segmentation "
               "experiment"),
    Param("device", str, "auto", help="auto | cpu | cuda | cuda:N"),
    Param("dtype", str, "float32", choices=("float32", "bfloat16", "float16")),
    Param("resolution", int, min=16, help=f"square side the image is resized to (default 1024; tiny "
                                          f"{TINY_RESOLUTION})"),
    Param("sigmas", str, help="comma-separated noise levels in (0, 1] (default: the recipe's schedule entry)"),
    Param("draws", int, 1, min=1, help="noise draws per sigma, averaged"),
    Param("layers", str, help="lastK or comma-separated 0-based double blocks (default: flux1 last4, flux2 last3)"),
    Param("softmax", str, choices=("concepts", "patches", "none"), help="over concepts (default), patches, or none"),
    Param("normalize", str, choices=("none", "concepts"),
          help="concepts: concept vectors normalised over the concepts before the dot product (multiclass)"),
    Param("order", str, choices=("softmax_then_mean", "mean_then_softmax"),
          help="softmax per map then the mean (flux1), or the mean then one softmax (flux2)"),
    Param("temperature", float, help="scores are divided by it before the softmax (default: flux1 1, flux2 1000)"),
    Param("projection", str, "pre", choices=("pre", "post"), help="attention outputs before or after the projection"),
    Param("pooled", str, "zeros", choices=("zeros", "clip"), help="the pooled text vector (clip: flux1 only)"),
    Param("prompt", str, help="caption in the text stream; {object}: the object class, {parts}: its candidate parts "
                              "(default empty; multiclass {parts})"),
    Param("background", str, help=f"comma-separated background concepts (default {REFERENCE_BACKGROUND})"),
    Param("argmax", str, choices=("parts", "all"),
          help="parts: over the sample's parts; all: background concepts too, a background win being no prediction"),
    Param("resize", str, "nearest", choices=("nearest", "bilinear"), help="how the image is resized"),
    Param("max_sequence_length", int, min=1, help="text tokens (default: flux1 256, flux2 512)"),
    Param("latent", str, choices=("sample", "mode"),
          help="the clean latent: a seeded VAE-posterior draw (flux1) or its mode (flux2)"),
)


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


def multiclass_layers(n_blocks: int) -> str:
    """The multi-class recipe's double blocks: 14-17 of FLUX.1's 19, i.e. the four before the last; the same
    positions on a model of another depth (the tiny preset's 3 blocks: 0 and 1)."""
    if n_blocks == 19:
        return ",".join(map(str, MULTICLASS_LAYERS))
    return ",".join(str(i) for i in range(max(n_blocks - 5, 0), max(n_blocks - 1, 1)))


def part_caption(parts: list[str]) -> str:
    """The multi-class experiment's caption (run_multi_class_seg_experiment.py L156): "a {name}" for each name,
    joined by a comma without a space."""
    return ",".join(f"a {p}" for p in parts)


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
    # encode_image: each model's demo API (`encode_image`) defaults; multiclass (FLUX.1): the paper's multi-class
    # segmentation experiment (MULTICLASS_DEFAULTS, MULTICLASS_LAYERS, MULTICLASS_NOISE_INDEX)
    recipe: str = "encode_image"
    device: str = "auto"
    dtype: str = "float32"
    resolution: int | None = None  # default 1024 (tiny: 32)
    # Options left None take the model's and recipe's defaults (FLUX1_DEFAULTS or FLUX2_DEFAULTS, COMMON_DEFAULTS,
    # the sigma of the recipe's schedule at this resolution; MULTICLASS_DEFAULTS with recipe=multiclass), so every
    # explicit -a value wins.
    sigmas: str | None = None  # comma-separated noise levels, one forward batch
    draws: int = 1  # noise draws per sigma, averaged
    layers: str | None = None  # "lastK" or comma-separated 0-based double-block indices
    softmax: str | None = None  # concepts | patches | none
    # concepts: the concept vectors shifted and scaled to sum to 1 over the concepts, per feature, before the dot
    # product (the multi-class experiment's normalize_concepts); none
    normalize: str | None = None
    order: str | None = None
    temperature: float | None = None
    projection: str = "pre"
    pooled: str = "zeros"
    # caption run in the text stream; "{object}" is replaced by the sample's object class, "{parts}" by its candidate
    # parts as "a {part},a {part2},..." (part_caption)
    prompt: str | None = None
    background: str | None = None
    # parts: argmax over the sample's parts only (background concepts only compete in the softmax or normalisation);
    # all: over parts and background concepts, a background win being no prediction (the ignore label)
    argmax: str | None = None
    resize: str = "nearest"
    max_sequence_length: int | None = None  # default 256 (schnell's T5 length; flux2: Klein's 512)
    # The clean latent: a seeded draw from the VAE posterior (FLUX.1 reference) or its mode (FLUX.2 port).
    latent: str | None = None

    def __post_init__(self):
        if self.weights is None:
            object.__setattr__(self, "weights", DEFAULT_WEIGHTS_FLUX2 if self.model == "flux2" else DEFAULT_WEIGHTS)
        if self.max_sequence_length is None:
            object.__setattr__(self, "max_sequence_length", 512 if self.model == "flux2" else 256)
        defaults = (dict(FLUX2_DEFAULTS) if self.model == "flux2" else dict(FLUX1_DEFAULTS)) | COMMON_DEFAULTS
        if self.model == "flux2":
            if self.sigmas is None:
                defaults["sigmas"] = f"{flux2_port_sigma(self.latent_tokens()):.6f}"
        elif self.recipe == "multiclass":
            defaults |= MULTICLASS_DEFAULTS
            defaults["layers"] = multiclass_layers(self._flux1_blocks())
            # shifted whatever the weights: the experiment passes is_schnell=False (segmentation.py L210)
            sigma = flux1_sigma(self.latent_tokens(), schnell=False, index=MULTICLASS_NOISE_INDEX)
            defaults["sigmas"] = f"{sigma:.6f}".rstrip("0").rstrip(".")
        elif self.sigmas is None:
            schnell = self.preset == "tiny" or is_schnell(self.weights)
            defaults["sigmas"] = f"{flux1_sigma(self.latent_tokens(), schnell):.6f}".rstrip("0").rstrip(".")
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def _flux1_blocks(self) -> int:
        """FLUX.1's double blocks: 19, or the tiny preset's."""
        if self.preset == "tiny":
            from partbench.tiny_models.flux1_tiny import TinyFlux1Config

            return TinyFlux1Config().num_layers
        return 19

    def latent_tokens(self) -> int:
        """Image tokens of one latent at `resolution` (the `image_seq_len` of the schedule shift)."""
        if self.preset == "tiny":
            from partbench.tiny_models.flux1_tiny import TinyFlux1Config
            from partbench.tiny_models.flux2_tiny import TinyFlux2Config

            config = TinyFlux2Config() if self.model == "flux2" else TinyFlux1Config()
            per_token = 2 ** len(config.vae_block_out_channels)  # VAE 2^(n-1), then 2x2 packing
        else:
            per_token = FLUX2_PIXELS_PER_TOKEN  # FLUX.1 too: 8x VAE, 2x2 packing
        return (self.image_size() // per_token) ** 2

    @classmethod
    def from_args(cls, args: dict[str, str]) -> ConceptAttentionOptions:
        # only the given values: those left out resolve to the model's and recipe's defaults in __post_init__
        out = cls(**check_method_args(METHOD, PARAMS, args))
        if out.model == "flux2" and out.recipe != "encode_image":
            raise PartbenchError(f"Method {METHOD!r}: recipe={out.recipe} is a FLUX.1 recipe (the paper's multi-class "
                                 "segmentation experiment); it needs model=flux1.")
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
