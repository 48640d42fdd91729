"""ConceptAttention as a partbench segmentation method, on FLUX.1 (`model=flux1`, default) or FLUX.2 (`model=flux2`).

Per sample: the image is resized to `resolution`² (nearest by default, aspect not kept, as the reference
`encode_image`), VAE-encoded, noised once per (sigma, draw), and run through the transformer's double blocks in ONE
batched forward beside a concept stream. Concepts are the allowed part names with `'s` removed plus background
concepts; each is text-encoded on its own. Scores are aggregated over the chosen layers, sigmas and draws, upsampled
bilinearly to the image and argmaxed over the sample's allowed parts (`argmax=all`: over the background concepts too,
a background win being no prediction).

The model-specific steps (loading, text encoding, latents, the forward) live in one backend per model: `flux1.py`
and `flux2.py`, sharing `backend.ConceptBackend`. The options and each model's defaults are in `options.py`; the
recipes they pin, the resolved values a run records and the known departures from upstream are in
docs/conceptattention.md.

Common to both models: pre-projection outputs, zero pooled vectors, empty caption, background concepts
background/floor/tree/person/grass/face. Variants: `projection=post`, `softmax=patches|none`, `order`, `temperature`,
`normalize=concepts`, `argmax=all`, `pooled=clip` (FLUX.1 only). `recipe=multiclass` (FLUX.1) resolves the options
to the paper's multi-class segmentation recipe (options.py MULTICLASS_*), with the sample's candidate parts as the
caption (`prompt={parts}`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from partbench.api.types import Vocabulary
from partbench.data.types import Sample
from partbench.devices import select_device
from partbench.suites import Suite

from .backend import ConceptBackend
from .flux1 import Flux1Backend
from .flux2 import Flux2Backend
from .options import (
    DEFAULT_WEIGHTS,
    FLUX1_DEFAULTS,
    FLUX2_DEFAULTS,
    FLUX2_DEFAULTS_VERSION,
    MULTICLASS_DEFAULTS,
    MULTICLASS_RECIPE_VERSION,
    ConceptAttentionOptions,
    part_caption,
)

__all__ = ["ADAPTER_VERSION", "BACKENDS", "ConceptAttention", "ConceptAttentionOptions", "concept_text", "status"]

ADAPTER_VERSION = "2"  # 2: FLUX.1 samples the VAE posterior (seeded) and shifts the sigma for dev weights
BACKENDS: dict[str, type[ConceptBackend]] = {"flux1": Flux1Backend, "flux2": Flux2Backend}
MULTICLASS_DEFINITION = ("reference (ConceptAttention multi-class segmentation experiment, "
                         "experiments/pascal_voc_segmentation)")


def concept_text(class_name: str) -> str:
    return class_name.replace("'s", "")


def _definition(options: ConceptAttentionOptions) -> str:
    """`reference (...)` naming the upstream recipe whose scoring rule the options follow (layers, sigmas, caption
    and background concepts aside), else `variant`. FLUX.1's default is the demo API, `encode_image`."""
    rule = (options.projection, options.softmax, options.order, options.pooled, options.normalize, options.argmax)
    if options.model == "flux2":
        port = ("pre", "concepts", FLUX2_DEFAULTS["order"], "zeros", "none", "parts")
        return ("reference (ConceptAttention FLUX.2 port)" if rule == port
                and options.temperature == FLUX2_DEFAULTS["temperature"] else "variant")
    if rule == ("pre", "concepts", FLUX1_DEFAULTS["order"], "zeros", "none", "parts"):
        return "reference (BFL ConceptAttention)"
    multiclass = ("pre", MULTICLASS_DEFAULTS["softmax"], "zeros", MULTICLASS_DEFAULTS["normalize"],
                  MULTICLASS_DEFAULTS["argmax"])
    # without a softmax, `order` changes nothing
    if (options.projection, options.softmax, options.pooled, options.normalize, options.argmax) == multiclass:
        return MULTICLASS_DEFINITION
    return "variant"


def _tiny_config(model: str) -> dict[str, Any]:
    return BACKENDS[model].tiny_config()


def _recipe_tag(recipe: str) -> str | None:
    """The fingerprint's mark of a non-default recipe (None for `encode_image`, whose fingerprints never had one)."""
    return f"multiclass{MULTICLASS_RECIPE_VERSION}" if recipe == "multiclass" else None


def _tiny_fingerprint(seed: int, model: str = "flux1", recipe: str = "encode_image") -> str:
    payload = {"config": _tiny_config(model), "seed": seed, "adapter": ADAPTER_VERSION}
    if model != "flux1":  # FLUX.1's payload has no model key, so its cached tiny runs stay valid
        payload["model"] = model
    if model == "flux2":
        payload["defaults"] = FLUX2_DEFAULTS_VERSION
    if _recipe_tag(recipe):
        payload["recipe"] = _recipe_tag(recipe)
    digest = hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]
    return f"conceptattention-tiny-{digest}" if model == "flux1" else f"conceptattention-{model}-tiny-{digest}"


class ConceptAttention:
    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        import torch

        self.options = ConceptAttentionOptions.from_args(args)
        self.seed = seed
        self.device = select_device(self.options.device)
        self.dtype = getattr(torch, self.options.dtype)
        self._fingerprint = self.fingerprint_for(suite=suite, data_root=data_root, args=args, seed=seed)
        self.backend: ConceptBackend = BACKENDS[self.options.model](self.options, seed, self.device, self.dtype)

    @property
    def parts(self) -> Any:
        """The backend's model components (transformer, VAE, text encoder(s), tokenizer(s))."""
        return self.backend.parts

    # -- identity ----------------------------------------------------------------------------------------------------
    @classmethod
    def fingerprint_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> str:
        options = ConceptAttentionOptions.from_args(args)
        if options.preset == "tiny":
            return _tiny_fingerprint(seed, options.model, options.recipe)
        from partbench.weights import resolve_model, weights_fingerprint

        path = resolve_model(options.weights, what=f"{options.model_label()} model (ConceptAttention)",
                             revision=options.revision)
        defaults = f"flux2d{FLUX2_DEFAULTS_VERSION}-" if options.model == "flux2" else ""
        recipe = f"{_recipe_tag(options.recipe)}-" if _recipe_tag(options.recipe) else ""
        return f"conceptattention-v{ADAPTER_VERSION}-{defaults}{recipe}{weights_fingerprint(path)}"

    @classmethod
    def describe_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> dict[str, Any]:
        options = ConceptAttentionOptions.from_args(args)
        out: dict[str, Any] = {"adapter_version": ADAPTER_VERSION, "options": asdict(options),
                               "resolution": options.image_size(), "noise": "CPU torch.Generator(seed + draw)",
                               "latent_noise": "CPU torch.Generator(seed + 1000003)",
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

    # -- prediction --------------------------------------------------------------------------------------------------
    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        return [self._predict_one(s, vocabulary) for s in samples]

    def scores(self, image: np.ndarray, concepts: list[str], prompt: str):
        """(C, h, w) aggregated concept maps on the latent token grid."""
        return self.backend.scores(image, concepts, prompt)

    def _predict_one(self, sample: Sample, vocabulary: Vocabulary) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        ids = np.asarray(vocabulary.allowed(sample), dtype=np.int64)
        height, width = sample.size
        if not ids.size:
            return np.full((height, width), vocabulary.ignore_label, dtype=np.int64)
        background = [b.strip() for b in self.options.background.split(",") if b.strip()]
        parts = [concept_text(vocabulary.classes[i]) for i in ids]
        concepts = parts + background
        prompt = self.options.prompt.replace("{object}", sample.object_class or "")
        prompt = prompt.replace("{parts}", part_caption(parts))
        scores = self.scores(sample.image, concepts, prompt)
        if self.options.argmax == "parts":
            maps = scores[: len(ids)]  # background concepts only normalise
            up = F.interpolate(maps[None].float().cpu(), size=(height, width), mode="bilinear", align_corners=False)[0]
            return ids[torch.argmax(up, 0).numpy()]
        # argmax=all: a background concept's win is no prediction (upstream maps it to VOC's background class,
        # run_multi_class_seg_experiment.py L25-37; part suites have none)
        up = F.interpolate(scores[None].float().cpu(), size=(height, width), mode="bilinear", align_corners=False)[0]
        labels = np.append(ids, vocabulary.ignore_label)
        return labels[np.minimum(torch.argmax(up, 0).numpy(), len(ids))]


def status() -> list[str]:
    from partbench.weights import cache_status

    return cache_status(DEFAULT_WEIGHTS, note="a GPU is advised")
