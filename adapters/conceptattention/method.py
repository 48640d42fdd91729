"""ConceptAttention as a partbench segmentation method (FLUX.1, or FLUX.2 with `model=flux2`, through diffusers).

Per sample: the image is resized to `resolution`² (nearest, aspect not kept, as the reference `encode_image`),
VAE-encoded, noised once per (sigma, draw) with a CPU generator seeded by (run seed + draw) — device-independent —
and run through the transformer's double blocks in ONE batched forward beside a concept stream (`flux1_stream.py`).
Concepts are the allowed part names with `'s` removed plus background concepts; each is T5-encoded separately and
only its first token kept. Scores are aggregated over the chosen layers, sigmas and draws, upsampled bilinearly to
the image and argmaxed over the sample's allowed parts.

Defaults depend on the model; each pins that model's upstream recipe, and any `-a layers/order/temperature/sigmas`
overrides it (the resolved values are recorded in the run's config under `options`):

- `model=flux1` (the reference definition, BFL-Flux code, `encode_image`): last 4 double blocks (15-18 on FLUX.1),
  sigma 0.5, softmax over concepts per map then mean (`order=softmax_then_mean`, temperature 1).
- `model=flux2` (ConceptAttention's FLUX.2 port, `concept_attention/flux2/pipeline.py` `encode_image`): last 3 double
  blocks (its `[5, 6, 7]` of FLUX.2-dev's 8; blocks 2-4 of Klein-4B's 5), scores averaged over layers and sigmas
  THEN softmax(mean / 1000) over concepts (`order=mean_then_softmax`, temperature 1000), and the sigma of the port's
  `get_schedule(num_steps=4, image_seq_len)[2]`: linspace(1, 0, 5)[2] = 0.5 shifted by FLUX.2's resolution-dependent
  mu (`flux2_port_sigma`), image_seq_len being the latent token count at `resolution` (16 px per token) — 0.908144 at
  the default 1024², 0.961947 at the port's own default of 2048².

Common to both: pre-projection outputs, zero pooled vectors, empty caption, background concepts
background/floor/tree/person/grass/face. Variants: `projection=post`, `softmax=patches|none`, `order`, `temperature`,
`pooled=clip` (FLUX.1 only).

`model=flux2` runs the same definition on diffusers' `Flux2Transformer2DModel` (`flux2_stream.py`; default weights
FLUX.2-klein-4B): latents are the Klein pipeline's (VAE mode, 2x2 patchify, the VAE's batch-norm statistics), noise is
drawn in that space; the caption is Qwen3-encoded as `Flux2KleinPipeline` does (chat template, padded to
`max_sequence_length`, default 512, hidden states of the base layers stacked); each concept is encoded on its own
(chat template, no padding) and its LAST content token kept (the text encoder is causal, so that is the first token to
have seen the whole concept; FLUX.1's T5 is bidirectional and keeps the first). FLUX.2 has no pooled vector: concepts
share the text stream's modulation, and `pooled=clip` is refused. Known departures from the FLUX.2 port (see
`docs/conceptattention.md`): resolution 1024² (port: 2048²), nearest resize (port: Lanczos), Klein/Qwen3 concept tokens
(port: FLUX.2-dev/Mistral, position 510 of the padded sequence) with zero RoPE ids (port: that text position's ids).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from partbench.data.types import Sample
from partbench.errors import PartbenchError
from partbench.api.types import Vocabulary
from partbench.suites import Suite

METHOD = "conceptattention"
ADAPTER_VERSION = "1"
DEFAULT_WEIGHTS = "black-forest-labs/FLUX.1-schnell"
DEFAULT_WEIGHTS_FLUX2 = "black-forest-labs/FLUX.2-klein-4B"
FLUX2_TEXT_LAYERS = (9, 18, 27)  # Klein's hidden_states_layers
REFERENCE_BACKGROUND = "background,floor,tree,person,grass,face"
TINY_RESOLUTION = 32

# Per-model defaults of the options left as None (resolved in ConceptAttentionOptions.__post_init__).
# FLUX.1: the BFL-code reference (`flux/pipeline.py` encode_image: range(15, 19) of 19 blocks, t = 0.5, softmax per
# map, then the mean).
FLUX1_DEFAULTS = {"layers": "last4", "order": "softmax_then_mean", "temperature": 1.0, "sigmas": "0.5"}
# FLUX.2: ConceptAttention's FLUX.2 port (`concept_attention/flux2/pipeline.py`, encode_image and
# compute_heatmaps_from_attention_dicts): layer_indices [5, 6, 7] = the last 3 of FLUX.2-dev's 8 double blocks,
# mean over timesteps and layers then softmax(scores / softmax_temperature=1000) over concepts, and
# t = get_schedule(num_steps=4, image_seq_len)[noise_timestep=2] (`flux2_port_sigma`).
FLUX2_DEFAULTS = {"layers": "last3", "order": "mean_then_softmax", "temperature": 1000.0}
FLUX2_SCHEDULE_STEPS, FLUX2_NOISE_INDEX = 4, 2
FLUX2_PIXELS_PER_TOKEN = 16  # AutoencoderKLFlux2: 8x downsampling, then 2x2 patchify
# Part of every model=flux2 fingerprint: prediction cache keys hold the -a args as passed, not the resolved options,
# so a change of FLUX.2's defaults must change the fingerprint (version 1, unmarked, ran FLUX.1's recipe).
FLUX2_DEFAULTS_VERSION = "2"


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


_CHOICES = {"softmax": ("concepts", "patches", "none"), "order": ("softmax_then_mean", "mean_then_softmax"),
            "projection": ("pre", "post"), "pooled": ("zeros", "clip"), "resize": ("nearest", "bilinear"),
            "preset": (None, "tiny"), "dtype": ("float32", "bfloat16", "float16"), "model": ("flux1", "flux2")}


def concept_text(class_name: str) -> str:
    return class_name.replace("'s", "")


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

    def __post_init__(self):
        if self.weights is None:
            object.__setattr__(self, "weights", DEFAULT_WEIGHTS_FLUX2 if self.model == "flux2" else DEFAULT_WEIGHTS)
        if self.max_sequence_length is None:
            object.__setattr__(self, "max_sequence_length", 512 if self.model == "flux2" else 256)
        defaults = dict(FLUX2_DEFAULTS) if self.model == "flux2" else dict(FLUX1_DEFAULTS)
        if self.model == "flux2" and self.sigmas is None:
            defaults["sigmas"] = f"{flux2_port_sigma(self.latent_tokens()):.6f}"
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def latent_tokens(self) -> int:
        """Image tokens of one latent at `resolution` (the `image_seq_len` of FLUX.2's schedule shift)."""
        if self.model == "flux2" and self.preset == "tiny":
            from partbench.models.flux2_tiny import TinyFlux2Config

            per_token = 2 ** len(TinyFlux2Config().vae_block_out_channels)  # VAE 2^(n-1), then 2x2 patchify
        else:
            per_token = FLUX2_PIXELS_PER_TOKEN  # FLUX.1 too: 8x VAE, 2x2 packing
        return (self.image_size() // per_token) ** 2

    @classmethod
    def from_args(cls, args: dict[str, str]) -> ConceptAttentionOptions:
        types = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(args) - set(types))
        if unknown:
            raise PartbenchError(f"Method {METHOD!r}: unknown --method-arg {unknown} (known: {', '.join(sorted(types))}).")
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


def _definition(options: ConceptAttentionOptions) -> str:
    """`reference (...)` when the scoring rule is the model's upstream one (layers and sigmas aside), else `variant`."""
    rule = (options.projection, options.softmax, options.order, options.pooled)
    if options.model == "flux2":
        port = ("pre", "concepts", FLUX2_DEFAULTS["order"], "zeros")
        return ("reference (ConceptAttention FLUX.2 port)" if rule == port
                and options.temperature == FLUX2_DEFAULTS["temperature"] else "variant")
    reference = ("pre", "concepts", FLUX1_DEFAULTS["order"], "zeros")
    return "reference (BFL ConceptAttention)" if rule == reference else "variant"


def _tiny_config(model: str) -> dict[str, Any]:
    if model == "flux2":
        from partbench.models.flux2_tiny import TinyFlux2Config

        return TinyFlux2Config().to_dict()
    from partbench.models.flux1_tiny import TinyFlux1Config

    return TinyFlux1Config().to_dict()


def _tiny_fingerprint(seed: int, model: str = "flux1") -> str:
    payload = {"config": _tiny_config(model), "seed": seed, "adapter": ADAPTER_VERSION}
    if model != "flux1":  # FLUX.1 fingerprints stay what they were before the model option existed
        payload["model"] = model
    if model == "flux2":
        payload["defaults"] = FLUX2_DEFAULTS_VERSION
    digest = hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]
    return f"conceptattention-tiny-{digest}" if model == "flux1" else f"conceptattention-{model}-tiny-{digest}"


def load_components(options: ConceptAttentionOptions, dtype):
    """FLUX.1 components from a diffusers pipeline folder (local path or HF cache snapshot); never downloads."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import T5EncoderModel, T5TokenizerFast

    from partbench.models.flux1_tiny import Flux1Components
    from partbench.weights import resolve_model

    path = resolve_model(options.weights, what="FLUX.1 model (ConceptAttention)", revision=options.revision)
    missing = [s for s in ("transformer", "vae", "text_encoder_2", "tokenizer_2")
               + (("text_encoder", "tokenizer") if options.pooled == "clip" else ()) if not (path / s).is_dir()]
    if missing:
        raise PartbenchError(f"FLUX.1 model at {path} lacks the folder(s) {', '.join(missing)}; pass a diffusers "
                             f"FLUX.1 pipeline folder (as {DEFAULT_WEIGHTS}) with --method-arg weights=PATH.")
    text_encoder = tokenizer = None
    if options.pooled == "clip":
        from transformers import CLIPTextModel, CLIPTokenizer

        text_encoder = CLIPTextModel.from_pretrained(path, subfolder="text_encoder", torch_dtype=dtype).eval()
        tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer")
    return Flux1Components(
        transformer=FluxTransformer2DModel.from_pretrained(path, subfolder="transformer", torch_dtype=dtype).eval(),
        vae=AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=dtype).eval(),
        text_encoder_2=T5EncoderModel.from_pretrained(path, subfolder="text_encoder_2", torch_dtype=dtype).eval(),
        tokenizer_2=T5TokenizerFast.from_pretrained(path, subfolder="tokenizer_2"),
        text_encoder=text_encoder, tokenizer=tokenizer, max_sequence_length=options.max_sequence_length)


def load_flux2_components(options: ConceptAttentionOptions, dtype):
    """FLUX.2 Klein components from a diffusers pipeline folder (local path or HF cache snapshot); never downloads."""
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
    from transformers import AutoTokenizer, Qwen3ForCausalLM

    from partbench.models.flux2_tiny import Flux2Components
    from partbench.weights import resolve_model

    path = resolve_model(options.weights, what="FLUX.2 model (ConceptAttention)", revision=options.revision)
    missing = [s for s in ("transformer", "vae", "text_encoder", "tokenizer") if not (path / s).is_dir()]
    if missing:
        raise PartbenchError(f"FLUX.2 model at {path} lacks the folder(s) {', '.join(missing)}; pass a diffusers "
                             f"FLUX.2 Klein pipeline folder (as {DEFAULT_WEIGHTS_FLUX2}) with "
                             "--method-arg weights=PATH.")
    return Flux2Components(
        transformer=Flux2Transformer2DModel.from_pretrained(path, subfolder="transformer", torch_dtype=dtype).eval(),
        vae=AutoencoderKLFlux2.from_pretrained(path, subfolder="vae", torch_dtype=dtype).eval(),
        text_encoder=Qwen3ForCausalLM.from_pretrained(path, subfolder="text_encoder", torch_dtype=dtype).eval(),
        tokenizer=AutoTokenizer.from_pretrained(path, subfolder="tokenizer"), scheduler=None,
        base_layers=FLUX2_TEXT_LAYERS, max_sequence_length=options.max_sequence_length, preset="weights")


class ConceptAttention:
    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        import torch

        from partbench.adapters.clipseg import torch_device

        self.options = ConceptAttentionOptions.from_args(args)
        self.seed = seed
        self.device = torch_device(self.options.device)
        self.dtype = getattr(torch, self.options.dtype)
        self._fingerprint = self.fingerprint_for(suite=suite, data_root=data_root, args=args, seed=seed)
        self.flux2 = self.options.model == "flux2"
        if self.options.preset == "tiny":
            if self.flux2:
                from partbench.models.flux2_tiny import tiny_flux2_components

                parts = tiny_flux2_components(seed)
            else:
                from partbench.models.flux1_tiny import tiny_flux1_components

                parts = tiny_flux1_components(seed)
            parts.max_sequence_length = min(self.options.max_sequence_length, parts.max_sequence_length)
        else:
            parts = (load_flux2_components if self.flux2 else load_components)(self.options, self.dtype)
        for name in ("transformer", "vae", "text_encoder_2", "text_encoder"):
            module = getattr(parts, name, None)
            if module is not None:
                # Tiny/loaded modules are already float32 or torch_dtype: cast only on request (diffusers warns).
                module = module.to(self.device)
                setattr(parts, name, module if module.dtype == self.dtype else module.to(dtype=self.dtype))
        self.parts = parts
        self.layers = self.options.layer_indices(len(parts.transformer.transformer_blocks))
        self._concept_cache: dict[str, Any] = {}

    # -- identity ----------------------------------------------------------------------------------------------------
    @classmethod
    def fingerprint_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> str:
        options = ConceptAttentionOptions.from_args(args)
        if options.preset == "tiny":
            return _tiny_fingerprint(seed, options.model)
        from partbench.weights import resolve_model, weights_fingerprint

        path = resolve_model(options.weights, what=f"{options.model_label()} model (ConceptAttention)",
                             revision=options.revision)
        defaults = f"flux2d{FLUX2_DEFAULTS_VERSION}-" if options.model == "flux2" else ""
        return f"conceptattention-v{ADAPTER_VERSION}-{defaults}{weights_fingerprint(path)}"

    @classmethod
    def describe_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> dict[str, Any]:
        options = ConceptAttentionOptions.from_args(args)
        out: dict[str, Any] = {"adapter_version": ADAPTER_VERSION, "options": asdict(options),
                               "resolution": options.image_size(), "noise": "CPU torch.Generator(seed + draw)",
                               "definition": _definition(options)}
        if options.preset == "tiny":
            out |= {"model": f"tiny random {options.model_label()} (preset=tiny)",
                    "config": _tiny_config(options.model), "init_seed": seed}
        else:
            from partbench.weights import resolve_model, snapshot_revision

            path = resolve_model(options.weights, what=f"{options.model_label()} model (ConceptAttention)",
                                 revision=options.revision)
            out |= {"model": options.weights, "path": str(path),
                    "revision": options.revision or snapshot_revision(path)}
        return out

    @classmethod
    def meaningful_for(cls, args: dict[str, str]) -> bool:
        return args.get("preset") != "tiny"

    def fingerprint(self) -> str:
        return self._fingerprint

    # -- text --------------------------------------------------------------------------------------------------------
    def _t5(self, texts: list[str]):
        import torch

        tok = self.parts.tokenizer_2(texts, padding="max_length", max_length=self.parts.max_sequence_length,
                                     truncation=True, return_tensors="pt")
        with torch.inference_mode():  # no attention mask, as FluxPipeline._get_t5_prompt_embeds
            return self.parts.text_encoder_2(tok["input_ids"].to(self.device))[0].to(self.dtype)

    def _concepts(self, texts: list[str]):
        """(C, D) first-token T5 outputs, each concept encoded on its own (cached across samples)."""
        import torch

        todo = [t for t in dict.fromkeys(texts) if t not in self._concept_cache]
        if todo:
            for t, emb in zip(todo, self._t5(todo)[:, 0]):
                self._concept_cache[t] = emb
        return torch.stack([self._concept_cache[t] for t in texts])

    def _pooled(self, text: str):
        import torch

        dim = self.parts.transformer.config.pooled_projection_dim
        if self.options.pooled == "zeros":
            return torch.zeros(1, dim, device=self.device, dtype=self.dtype)
        tok = self.parts.tokenizer([text], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            return self.parts.text_encoder(tok["input_ids"].to(self.device)).pooler_output.to(self.dtype)

    # -- image -------------------------------------------------------------------------------------------------------
    def _pixels(self, image: np.ndarray):
        """HxWx3 uint8 -> (1, 3, size, size) in [-1, 1], resized as the options say: the VAE input of both models."""
        import torch
        import torch.nn.functional as F

        size = self.options.image_size()
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
        return F.interpolate(x, size=(size, size), mode=self.options.resize,
                             **({"align_corners": False} if self.options.resize == "bilinear" else {}))

    def _latents(self, image: np.ndarray):
        import torch

        x = self._pixels(image)
        vae = self.parts.vae
        with torch.inference_mode():
            z = vae.encode(x.to(self.device, self.dtype)).latent_dist.mode()
        return (z - vae.config.shift_factor) * vae.config.scaling_factor

    # -- prediction --------------------------------------------------------------------------------------------------
    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        return [self._predict_one(s, vocabulary) for s in samples]

    def scores(self, image: np.ndarray, concepts: list[str], prompt: str):
        """(C, h, w) aggregated concept maps on the latent token grid."""
        import torch

        if self.flux2:
            return self._scores_flux2(image, concepts, prompt)
        from diffusers import FluxPipeline

        from .flux1_stream import StreamInputs, aggregate, concept_stream

        x0 = self._latents(image)
        _, ch, h, w = x0.shape
        sigmas = self.options.sigma_values()
        noisy, steps = [], []
        for draw in range(self.options.draws):
            eps = torch.randn(x0.shape, generator=torch.Generator("cpu").manual_seed(self.seed + draw))
            for sigma in sigmas:
                noisy.append(sigma * eps.to(x0) + (1 - sigma) * x0)
                steps.append(sigma)
        b = len(noisy)
        latents = FluxPipeline._pack_latents(torch.cat(noisy), b, ch, h, w)
        img_ids = FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, self.device, self.dtype)
        prompt_embeds = self._t5([prompt]).expand(b, -1, -1)
        concept_embeds = self._concepts(concepts)[None].expand(b, -1, -1)
        guidance = (torch.zeros(b, device=self.device) if self.parts.transformer.config.guidance_embeds else None)
        inputs = StreamInputs(
            latents=latents, img_ids=img_ids, prompt_embeds=prompt_embeds,
            txt_ids=torch.zeros(prompt_embeds.shape[1], 3, device=self.device, dtype=self.dtype),
            pooled=self._pooled(prompt).expand(b, -1), concept_embeds=concept_embeds,
            concept_pooled=self._pooled(" ".join(concepts)).expand(b, -1),
            timestep=torch.tensor(steps, device=self.device, dtype=self.dtype), guidance=guidance)
        out = concept_stream(self.parts.transformer, inputs, self.layers, self.options.projection)
        maps = [out.scores[layer][k] for layer in self.layers for k in range(b)]
        agg = aggregate(maps, self.options.softmax, self.options.order, self.options.temperature)
        return agg.reshape(len(concepts), h // 2, w // 2)

    # -- FLUX.2 ------------------------------------------------------------------------------------------------------
    def _qwen_prompt(self, text: str):
        """(1, T, D) caption embeddings exactly as `Flux2KleinPipeline.encode_prompt` computes them."""
        import torch
        from diffusers import Flux2KleinPipeline

        with torch.inference_mode():
            return Flux2KleinPipeline._get_qwen3_prompt_embeds(
                self.parts.text_encoder, self.parts.tokenizer, [text], dtype=self.dtype, device=self.device,
                max_sequence_length=self.parts.max_sequence_length, hidden_states_layers=tuple(self.parts.base_layers))

    def _qwen_concept(self, text: str):
        """(D,) embedding of one concept: the chat-templated concept alone (no padding) through the text encoder,
        base-layer hidden states stacked as Klein does, at the last token of the concept's own characters."""
        import torch

        tok, encoder = self.parts.tokenizer, self.parts.text_encoder
        templated = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                            add_generation_prompt=True, enable_thinking=False)
        enc = tok(templated, return_tensors="pt", truncation=True, max_length=self.parts.max_sequence_length,
                  return_offsets_mapping=True)
        start = templated.find(text)
        end = start + len(text)
        inside = [i for i, (a, b) in enumerate(enc["offset_mapping"][0].tolist()) if b > a and a < end and b > start]
        position = inside[-1] if start >= 0 and inside else enc["input_ids"].shape[1] - 1
        with torch.inference_mode():
            out = encoder(input_ids=enc["input_ids"].to(self.device), output_hidden_states=True, use_cache=False,
                          attention_mask=enc["attention_mask"].to(self.device))
        return torch.cat([out.hidden_states[k][0, position] for k in self.parts.base_layers], -1).to(self.dtype)

    def _concepts_flux2(self, texts: list[str]):
        import torch

        for t in dict.fromkeys(texts):
            if t not in self._concept_cache:
                self._concept_cache[t] = self._qwen_concept(t)
        return torch.stack([self._concept_cache[t] for t in texts])

    def _latents_flux2(self, image: np.ndarray):
        """(1, 4*latent_channels, h, w) model-space latents, as `Flux2KleinPipeline._encode_vae_image` (mode)."""
        import torch
        from diffusers import Flux2KleinPipeline

        x = self._pixels(image)
        vae = self.parts.vae
        with torch.inference_mode():
            z = Flux2KleinPipeline._patchify_latents(vae.encode(x.to(self.device, self.dtype)).latent_dist.mode())
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(z)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(z)
        return (z - mean) / std

    def _scores_flux2(self, image: np.ndarray, concepts: list[str], prompt: str):
        import torch
        from diffusers import Flux2KleinPipeline

        from .flux2_stream import Flux2StreamInputs, aggregate, concept_stream

        x0 = self._latents_flux2(image)
        _, _, h, w = x0.shape
        sigmas = self.options.sigma_values()
        noisy, steps = [], []
        for draw in range(self.options.draws):
            eps = torch.randn(x0.shape, generator=torch.Generator("cpu").manual_seed(self.seed + draw))
            for sigma in sigmas:
                noisy.append(sigma * eps.to(x0) + (1 - sigma) * x0)
                steps.append(sigma)
        b = len(noisy)
        prompt_embeds = self._qwen_prompt(prompt)
        guidance = (torch.zeros(b, device=self.device) if self.parts.transformer.config.guidance_embeds else None)
        inputs = Flux2StreamInputs(
            latents=Flux2KleinPipeline._pack_latents(torch.cat(noisy)),
            img_ids=Flux2KleinPipeline._prepare_latent_ids(x0)[0].to(self.device),
            prompt_embeds=prompt_embeds.expand(b, -1, -1),
            txt_ids=Flux2KleinPipeline._prepare_text_ids(prompt_embeds)[0].to(self.device),
            concept_embeds=self._concepts_flux2(concepts)[None].expand(b, -1, -1),
            timestep=torch.tensor(steps, device=self.device, dtype=self.dtype), guidance=guidance)
        out = concept_stream(self.parts.transformer, inputs, self.layers, self.options.projection)
        maps = [out.scores[layer][k] for layer in self.layers for k in range(b)]
        agg = aggregate(maps, self.options.softmax, self.options.order, self.options.temperature)
        return agg.reshape(len(concepts), h, w)

    def _predict_one(self, sample: Sample, vocabulary: Vocabulary) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        ids = np.asarray(vocabulary.allowed(sample), dtype=np.int64)
        height, width = sample.size
        if not ids.size:
            return np.full((height, width), vocabulary.ignore_label, dtype=np.int64)
        background = [b.strip() for b in self.options.background.split(",") if b.strip()]
        concepts = [concept_text(vocabulary.classes[i]) for i in ids] + background
        prompt = self.options.prompt.replace("{object}", sample.object_class or "")
        maps = self.scores(sample.image, concepts, prompt)[: len(ids)]  # background concepts only normalise
        up = F.interpolate(maps[None].float().cpu(), size=(height, width), mode="bilinear", align_corners=False)[0]
        return ids[torch.argmax(up, 0).numpy()]


def status() -> list[str]:
    from partbench.weights import cache_status

    return cache_status(DEFAULT_WEIGHTS, note="a GPU is advised")
