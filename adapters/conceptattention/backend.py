"""What a model backend of `conceptattention` provides, and the steps every backend shares.

A backend owns one model family's components (loaded weights or the tiny random preset) and turns an image, concept
names and a caption into concept maps on the latent token grid. Everything around that (options, identity,
preprocessing of the sample, upsampling, the argmax) stays in `method.py`, identical for every model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

# The posterior draw's generator seed is the run seed plus this offset, so that it never replays the noising's
# generators (run seed + draw, for draws far below it).
LATENT_SEED = 1_000_003

if TYPE_CHECKING:
    import torch

    from .flux1_stream import StreamOutputs
    from .options import ConceptAttentionOptions


class ConceptBackend(ABC):
    """One model's components on the run's device, and its concept-map forward."""

    # Component attributes that hold torch modules; they are moved to the run's device and dtype.
    device_modules: ClassVar[tuple[str, ...]]

    def __init__(self, options: ConceptAttentionOptions, seed: int, device: str, dtype: torch.dtype):
        self.options = options
        self.seed = seed
        self.device = device
        self.dtype = dtype
        if options.preset == "tiny":
            parts = self.tiny_components(seed)
            parts.max_sequence_length = min(options.max_sequence_length, parts.max_sequence_length)
        else:
            parts = self.load_components(options, dtype)
        for name in self.device_modules:
            module = getattr(parts, name, None)
            if module is not None:
                # Tiny/loaded modules are already float32 or torch_dtype: cast only on request (diffusers warns).
                module = module.to(device)
                setattr(parts, name, module if module.dtype == dtype else module.to(dtype=dtype))
        self.parts = parts
        self.layers = options.layer_indices(len(parts.transformer.transformer_blocks))
        self._concept_cache: dict[str, torch.Tensor] = {}

    # -- what each model defines -------------------------------------------------------------------------------------
    @staticmethod
    @abstractmethod
    def tiny_config() -> dict[str, Any]:
        """The config of the tiny random preset (part of its fingerprint)."""

    @staticmethod
    @abstractmethod
    def tiny_components(seed: int) -> Any:
        """The tiny random model built from `seed` (CPU, float32)."""

    @staticmethod
    @abstractmethod
    def load_components(options: ConceptAttentionOptions, dtype: torch.dtype) -> Any:
        """The model's components from a local pipeline folder or the HF cache; never downloads."""

    @abstractmethod
    def encode_concepts(self, texts: list[str]) -> list[torch.Tensor]:
        """One (D,) embedding per concept text, each concept encoded on its own."""

    @abstractmethod
    def scores(self, image: np.ndarray, concepts: list[str], prompt: str) -> torch.Tensor:
        """(C, h, w) aggregated concept maps on the latent token grid."""

    # -- shared steps ------------------------------------------------------------------------------------------------
    def concept_embeddings(self, texts: list[str]) -> torch.Tensor:
        """(C, D) concept embeddings, cached across samples: the same part names recur in every sample."""
        import torch

        todo = [t for t in dict.fromkeys(texts) if t not in self._concept_cache]
        if todo:
            self._concept_cache.update(zip(todo, self.encode_concepts(todo)))
        return torch.stack([self._concept_cache[t] for t in texts])

    def pixels(self, image: np.ndarray) -> torch.Tensor:
        """HxWx3 uint8 -> (1, 3, size, size) in [-1, 1], resized as the options say: the VAE input of both models."""
        import torch
        import torch.nn.functional as F

        size = self.options.image_size()
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
        return F.interpolate(x, size=(size, size), mode=self.options.resize,
                             **({"align_corners": False} if self.options.resize == "bilinear" else {}))

    def noised(self, x0: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
        """Every (draw, sigma) noising of the clean latents `x0`, batched, with the sigma of each row.

        Noise comes from a CPU generator seeded with run seed + draw, so predictions do not depend on the device."""
        import torch

        sigmas = self.options.sigma_values()
        noisy, steps = [], []
        for draw in range(self.options.draws):
            eps = torch.randn(x0.shape, generator=torch.Generator("cpu").manual_seed(self.seed + draw))
            for sigma in sigmas:
                noisy.append(sigma * eps.to(x0) + (1 - sigma) * x0)
                steps.append(sigma)
        return torch.cat(noisy), steps

    def clean_latent(self, posterior: Any) -> torch.Tensor:
        """The VAE posterior's mode, or a draw from it (`latent=sample`) with noise from a CPU generator of its own:
        seeded from the run seed, apart from the noising's generators (seed + draw)."""
        import torch

        if self.options.latent == "mode":
            return posterior.mode()
        eps = torch.randn(posterior.mean.shape, generator=torch.Generator("cpu").manual_seed(LATENT_SEED + self.seed))
        return posterior.mean + posterior.std * eps.to(posterior.mean)

    def aggregate(self, out: StreamOutputs, batch: int) -> torch.Tensor:
        """(C, N) maps: the chosen layers' scores of every batch row combined by the options' softmax rule."""
        from .flux1_stream import aggregate

        maps = [out.scores[layer][k] for layer in self.layers for k in range(batch)]
        return aggregate(maps, self.options.softmax, self.options.order, self.options.temperature)
