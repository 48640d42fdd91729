"""`partconcepts` as a partbench method: segmentation (oracle-object) and generation from a trained checkpoint.

Segmentation: per sample, crop the object's box (or take the whole image), prompt `a photo of a {object} with
[part], ...` over the parts the vocabulary allows, encode with the VAE, add noise at a fixed sigma drawn from a
per-sample seed, one mmDiT forward with attention capture, decode one probability map per part, paste back into
the image: CxHxW scores (probabilities; zero for classes not asked), which the runner argmaxes over the allowed
parts inside the object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from partbench.api.method import method_options
from partbench.devices import select_device
from partbench.errors import PartbenchError
from partbench.methods.partconcepts import checkpoint as ckpt
from partbench.methods.partconcepts.options import NAME, PARAMS, SAMPLERS

# Bumped whenever generation changes its images for the same checkpoint, prompt and seed, so that cached images of
# an older version are not reused: v2 marks the part inside the record's instruction (v1 marked the first substring
# match: "[pot]ted plant") and generates at `resolution` when asked.
GENERATION_VERSION = 2
# Bumped whenever segmentation changes its maps for the same checkpoint and image: v2 reads the maps' softmax
# normaliser from the attention kernel (equal to v1's explicit softmax to float tolerance, not bit for bit).
SEGMENTATION_VERSION = 2


def _options(args: dict[str, str]) -> dict[str, Any]:
    opts = method_options(NAME, PARAMS, args)
    if not opts["checkpoint"]:
        raise ckpt.WeightsNotFoundError(f"Method {NAME!r} needs a trained checkpoint: pass --checkpoint DIR. "
                                        f"{ckpt.HOW_TO_GET}")
    return opts


def sampler_of(saved: dict[str, Any], requested: str | None, where: str) -> tuple[str, str]:
    """(sampler kind, where it came from): `-a sampler=` when given, else the kind the checkpoint's base model
    records (the base pipeline's `is_distilled`, read when it was loaded for training; the tiny base is distilled by
    construction), else, for checkpoints that predate the record, the base model's name (BFL names the
    non-distilled ones `FLUX.2-klein-base-*`). An unknown kind is refused rather than sampled with the wrong
    schedule."""
    base = saved.get("base") or {}
    model = saved.get("model") or {}
    if requested:
        kind, source = requested, "argument"
    elif base.get("sampler"):
        kind, source = base["sampler"], "checkpoint"
    elif model.get("preset") == "tiny":
        kind, source = "distilled", "tiny base"
    else:
        name = str(model.get("base_model") or base.get("base_model") or "").lower()
        kind, source = ("base" if "klein-base" in name else "distilled"), "base model name"
    if kind not in SAMPLERS:
        raise PartbenchError(f"PartConcepts checkpoint {where}: unknown sampler kind {kind!r} (known: "
                             f"{', '.join(SAMPLERS)}); pass -a sampler=distilled or -a sampler=base.")
    return kind, source


def describe_checkpoint(path, saved: dict[str, Any], noise: float | None) -> dict[str, Any]:
    """What a run's config records about a PartConcepts checkpoint (`saved`: its config.json)."""
    model = saved.get("model", {})
    return {"checkpoint": str(ckpt.checkpoint_dir(path)), "preset": model.get("preset"),
            "base_model": model.get("base_model") or ("tiny random FLUX.2-Klein" if model.get("preset") == "tiny"
                                                      else None),
            "dtype": model.get("dtype"), "model": model,
            "noise": noise if noise is not None else model.get("noise"),
            "trained_steps": saved.get("step"), "training": saved.get("training"),
            "deviations": saved.get("deviations", [])}


def checkpoint_meaningful(options, args: dict[str, str]) -> bool:
    """False when the checkpoint `options(args)` names is the tiny preset: a smoke model, whose numbers show that the
    pipeline runs, not what the method can do. Arguments that do not resolve count as meaningful (the run refuses
    them later, with its own message)."""
    try:
        return ckpt.read_config(options(args)["checkpoint"]).get("model", {}).get("preset") != "tiny"
    except PartbenchError:
        return True


def weights_digest(path) -> str:
    """16 hex digits over the checkpoint's weights and config: the part of a fingerprint that names the model."""
    from partbench.weights import file_sha256

    d = ckpt.checkpoint_dir(path)
    digest = hashlib.sha256(file_sha256(d / ckpt.WEIGHTS).encode())
    digest.update((d / ckpt.CONFIG).read_bytes())
    return digest.hexdigest()[:16]


def _is_generation(suite) -> bool:
    return getattr(suite, "task", None) == "generation"


def sample_seed(seed: int, key: str) -> int:
    """Noise seed of one sample: independent of batch composition, so cached and fresh predictions agree."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little") % (2 ** 63)


class PartConcepts:
    def __init__(self, suite=None, data_root: Path | None = None, args: dict[str, str] | None = None, seed: int = 0):
        self.opts = _options(args or {})
        self.seed = seed
        self.suite = suite
        self._fingerprint = self.fingerprint_for(suite=suite, data_root=data_root, args=args or {}, seed=seed)
        self.device = select_device(self.opts["device"])
        self.model = ckpt.load_model(self.opts["checkpoint"], device=self.device)
        cfg = self.model.config
        self.noise = cfg.noise if self.opts["noise"] is None else self.opts["noise"]
        self.resolution = self.opts["resolution"] or cfg.resolution

    # -- contract -----------------------------------------------------------------------------------------------------
    @classmethod
    def fingerprint_for(cls, *, suite=None, data_root=None, args: dict[str, str], seed: int = 0) -> str:
        opts = _options(args)
        prefix = (f"partconcepts-gen-v{GENERATION_VERSION}-" if _is_generation(suite)
                  else f"partconcepts-v{SEGMENTATION_VERSION}-")
        return prefix + weights_digest(opts["checkpoint"])

    @classmethod
    def describe_for(cls, *, suite=None, data_root=None, args: dict[str, str], seed: int = 0) -> dict[str, Any]:
        opts = _options(args)
        saved = ckpt.read_config(opts["checkpoint"])
        return describe_checkpoint(opts["checkpoint"], saved, opts["noise"]) | (
            cls._generation_settings(opts, saved) if _is_generation(suite) else {})

    @staticmethod
    def _generation_settings(opts: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
        """What shapes the images: size (`image_size` [width, height], which tables and `userstudy export` compare
        across runs), sampler, steps and guidance."""
        sampler, source = sampler_of(saved, opts["sampler"], str(opts["checkpoint"]))
        size = opts["resolution"] or saved.get("model", {}).get("resolution")
        return {"image_size": [size, size], "sampler": sampler, "sampler_from": source,
                "steps": opts["steps"] or SAMPLERS[sampler]["steps"],
                "guidance": opts["guidance"] if opts["guidance"] is not None else SAMPLERS[sampler]["guidance"],
                "generation_version": GENERATION_VERSION}

    @classmethod
    def meaningful_for(cls, args: dict[str, str]) -> bool:
        """Tiny-preset numbers are pipeline results on random-init models, not comparable to the paper."""
        return checkpoint_meaningful(_options, args)

    def fingerprint(self) -> str:
        return self._fingerprint

    # -- segmentation -------------------------------------------------------------------------------------------------
    def predict(self, samples: Sequence, vocabulary) -> list[np.ndarray]:
        return [np.asarray(p) for p in self.predict_probabilities(samples, vocabulary)]

    def predict_probabilities(self, samples: Sequence, vocabulary) -> list[np.ndarray]:
        """Per sample (num classes, H, W) float32 probabilities; classes not asked are 0."""
        import torch

        from partbench.methods.partconcepts.data import crop_image, paste_scores
        from partbench.methods.partconcepts.prompts import part_prompt
        from partbench.suites import part_of

        cfg = self.model.config
        out: list[np.ndarray] = []
        bs = self.opts["batch_size"]
        for start in range(0, len(samples), bs):
            chunk = samples[start:start + bs]
            allowed = [tuple(vocabulary.allowed(s)) for s in chunk]
            for s, a in zip(chunk, allowed):
                if not a:
                    raise PartbenchError(f"partconcepts: sample {s.id} has no part classes to segment.")
            crops = [crop_image(s, self.resolution, cfg.crop_margin, cfg.crop) for s in chunk]
            prompts = [part_prompt(s.object_class or "object", [part_of(vocabulary.classes[i]) for i in a])
                       for s, a in zip(chunk, allowed)]
            with torch.no_grad():
                images = torch.stack([c.image for c in crops]).to(self.device)
                latents = self.model.encode_images(images)
                noise = torch.stack([torch.randn(latents.shape[1:], generator=torch.Generator().manual_seed(
                    sample_seed(self.seed, s.id))) for s in chunk]).to(latents)
                sigma = torch.full((len(chunk),), float(self.noise), device=latents.device)
                res = self.model.segment(latents, images, prompts, sigma, noise)
                probs = torch.sigmoid(res.mask_logits.float()).cpu()
            for b, (s, a, c) in enumerate(zip(chunk, allowed, crops)):
                scores = np.zeros((len(vocabulary.classes), *s.size), dtype=np.float32)
                scores[list(a)] = paste_scores(probs[b, :len(a)], c.box, s.size)
                out.append(scores)
        return out

    # -- generation ---------------------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence, seeds: Sequence[int]) -> list:
        from partbench.methods.partconcepts.generate import generate_images

        if self.resolution % self.model.token_stride:
            raise PartbenchError(f"partconcepts: resolution {self.resolution} is not a multiple of the model's token "
                                 f"stride {self.model.token_stride}.")
        g = self._generation_settings(self.opts, ckpt.read_config(self.opts["checkpoint"]))
        return [r.image for r in generate_images(self.model, prompts, seeds, steps=g["steps"],
                                                 resolution=self.resolution, guidance=g["guidance"],
                                                 distilled=g["sampler"] == "distilled")]
