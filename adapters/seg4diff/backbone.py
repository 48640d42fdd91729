"""What a Seg4Diff backbone provides (one model family: SD3/SD3.5 or FLUX.1), and the steps they share.

A backbone owns a diffusers pipeline (loaded weights or a tiny random preset) on the run's device and turns an image
and its prompts into the image-to-text attention of the chosen blocks, from ONE forward at one noise level:

    image -> resized to resolution² (bilinear, aspect not kept) -> VAE posterior mean, shifted and scaled
          -> noised once at timesteps[-noise_step] of the model's flow-matching Euler schedule (seeded noise)
          -> one transformer forward, no classifier-free guidance, the chosen blocks' attention captured.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import PartbenchError

from .capture import QUERY_CHUNK, TextLayout, capture
from .options import DEFAULT_WEIGHTS, Seg4DiffOptions, weights_path

if TYPE_CHECKING:
    import torch


class Backbone(ABC):
    """One model family's pipeline, and Seg4Diff's forward on it."""

    max_length: int  # tokens the (first) text encoder reads, special tokens included
    qk: Callable  # (attn, hidden_states, encoder_hidden_states, *args) -> queries, keys: capture.sd3_qk / flux_qk

    def __init__(self, options: Seg4DiffOptions, seed: int, device: str, dtype: torch.dtype):
        self.options, self.seed, self.device, self.dtype = options, seed, device, dtype
        pipe = self.tiny_pipeline(seed) if options.preset == "tiny" else self.load_pipeline()
        if options.lora:
            from .lora import load_magnet_lora

            self.lora = load_magnet_lora(pipe.transformer, options.lora)
        pipe.to(device)
        if pipe.transformer.dtype != dtype:
            pipe.to(dtype=dtype)
        self.pipe = pipe

    # -- what each model family defines -------------------------------------------------------------------------------
    @abstractmethod
    def tiny_pipeline(self, seed: int) -> Any:
        """The tiny random pipeline built from `seed` (CPU, float32)."""

    @abstractmethod
    def load_pipeline(self) -> Any:
        """The pipeline from a local folder or the HF cache; never downloads."""

    @abstractmethod
    def attentions(self) -> list[Any]:
        """Every block's joint attention module, in Seg4Diff's layer numbering."""

    @property
    @abstractmethod
    def tokenizers(self) -> list[Any]:
        """The tokenizers whose token positions are the text columns (all must agree)."""

    @abstractmethod
    def forward(self, image: np.ndarray, prompts: tuple[str, ...], n_cols: int, layers: list[int],
                chunk: int) -> tuple[dict[int, torch.Tensor], tuple[int, int]]:
        """layer -> (rows, image tokens, n_cols) attention, and the image token grid (h, w)."""

    # -- shared steps ------------------------------------------------------------------------------------------------
    def check_folders(self, path, folders: tuple[str, ...]) -> None:
        from partbench.adapters.pipeline_folders import require_subfolders

        require_subfolders(path, folders, label=f"{self.options.label()} model", pipeline=self.options.label(),
                           example=DEFAULT_WEIGHTS[self.options.model])

    def weights_path(self):
        return weights_path(self.options)

    def pixels(self, image: np.ndarray, signed: bool = True) -> torch.Tensor:
        """HxWx3 uint8 -> (1, 3, size, size), bilinearly resized (aspect not kept), in [-1, 1] (or [0, 1])."""
        import torch
        import torch.nn.functional as F

        size = self.options.resolution
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(255)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x * 2 - 1 if signed else x

    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """The VAE posterior mean of `x`, shifted and scaled as the pipelines do."""
        import torch

        vae = self.pipe.vae
        with torch.inference_mode():
            z = vae.encode(x.to(self.device, self.dtype)).latent_dist.mean
        return (z - (vae.config.shift_factor or 0.0)) * vae.config.scaling_factor

    def noise(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Gaussian noise from a CPU generator seeded with the run's seed (upstream's is unseeded), so predictions do
        not depend on the device or on the other samples."""
        import torch

        return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(self.seed))

    def noise_level(self, image_seq_len: int | None = None) -> tuple[torch.Tensor, float]:
        """(timestep, sigma) at timesteps[-noise_step] of the pipeline scheduler's `steps`-step schedule."""
        scheduler = self.pipe.scheduler
        set_schedule(scheduler, self.options.steps, image_seq_len)
        index = len(scheduler.timesteps) - self.options.noise_step
        return scheduler.timesteps[index], float(scheduler.sigmas[index])

    def run(self, image: np.ndarray, prompts: tuple[str, ...], n_cols: int, layers: list[int],
            chunk: int = QUERY_CHUNK) -> tuple[dict[int, torch.Tensor], tuple[int, int]]:
        n_blocks = len(self.attentions())
        bad = [k for k in layers if not 0 <= k < n_blocks]
        if bad:
            raise PartbenchError(f"seg4diff: layer(s) {bad} out of range; this {self.options.label()} model has "
                                 f"{n_blocks} blocks (0-{n_blocks - 1}).")
        return self.forward(image, prompts, n_cols, layers, chunk)

    def captured(self, layers: list[int], layout: TextLayout, chunk: int):
        """Within the block, a forward captures `layers` (`capture.capture` with this model's queries and keys)."""
        attentions = self.attentions()
        return capture({k: attentions[k] for k in layers}, type(self).qk, layout, chunk)


def set_schedule(scheduler: Any, steps: int, image_seq_len: int | None) -> None:
    """The pipelines' schedules: SD3/SD3.5 `set_timesteps(steps)` (static shift 3); FLUX.1 sigmas
    linspace(1, 1/steps, steps) with the dynamic shift mu of `image_seq_len` tokens (FluxPipeline)."""
    if not scheduler.config.get("use_dynamic_shifting", False):
        scheduler.set_timesteps(steps)
        return
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift

    c = scheduler.config
    mu = calculate_shift(image_seq_len, c.get("base_image_seq_len", 256), c.get("max_image_seq_len", 4096),
                         c.get("base_shift", 0.5), c.get("max_shift", 1.15))
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
