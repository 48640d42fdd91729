"""The FLUX.1 backbone of `seg4diff`: diffusers' `FluxPipeline` (FLUX.1-dev by default), as upstream's
`flux_backbone.py` runs it, with its bugs fixed unless `flux_recipe=upstream` asks for them (docs/seg4diff.md).

Layers are numbered as upstream numbers them: the 19 double-stream blocks (0-18), then the 38 single-stream blocks
(19-56); both see [text, image] in one attention, so the captured rows are the image tokens after the T5 tokens and
the columns the T5 tokens (no BOS: names start at column 0). The prompt is read by T5 (`max_sequence_length`, 512 as
FluxPipeline) and CLIP (pooled vector), as `FluxPipeline.encode_prompt`. No classifier-free guidance; the guidance
embedding is 3.5 as upstream. The noise level is timesteps[-8] of a 50-step schedule (upstream hard-codes 50) whose
dynamic shift mu is FluxPipeline's for the image's token count (4096 at 1024²: sigma 0.3756); upstream computes mu
for 16 "tokens" (the latent channel count; sigma 0.2317) and feeds the VAE pixels in [0, 1] instead of [-1, 1]:
`flux_recipe=upstream` reproduces both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .backbone import Backbone
from .capture import TextLayout, flux_qk
from .options import tiny_flux_config

if TYPE_CHECKING:
    import torch

FLUX_FOLDERS = ("transformer", "vae", "scheduler", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
# FLUX.1-dev's scheduler_config.json (the tiny preset uses the same).
FLUX_SCHEDULER = {"shift": 3.0, "use_dynamic_shifting": True, "base_shift": 0.5, "max_shift": 1.15,
                  "base_image_seq_len": 256, "max_image_seq_len": 4096}


class FluxBackbone(Backbone):
    qk = staticmethod(flux_qk)

    @property
    def max_length(self) -> int:  # type: ignore[override]
        return self.options.max_sequence_length

    def tiny_pipeline(self, seed: int) -> Any:
        from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

        from partbench.tiny_models.flux1_tiny import tiny_flux1_components

        c = tiny_flux1_components(seed, tiny_flux_config())
        c.tokenizer.model_max_length = 77  # CLIP's length (FluxPipeline pads the pooled prompt to it)
        return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER), vae=c.vae,
                            text_encoder=c.text_encoder, tokenizer=c.tokenizer, text_encoder_2=c.text_encoder_2,
                            tokenizer_2=c.tokenizer_2, transformer=c.transformer)

    def load_pipeline(self) -> Any:
        from diffusers import FluxPipeline

        path = self.weights_path()
        self.check_folders(path, FLUX_FOLDERS)
        return FluxPipeline.from_pretrained(path, torch_dtype=self.dtype, local_files_only=True)

    def attentions(self) -> list[Any]:
        t = self.pipe.transformer
        return [b.attn for b in t.transformer_blocks] + [b.attn for b in t.single_transformer_blocks]

    @property
    def tokenizers(self) -> list[Any]:
        return [self.pipe.tokenizer_2]

    def shift_tokens(self, latents: torch.Tensor) -> int:
        """The token count the schedule's shift is computed for: the packed latent's (FluxPipeline), or upstream's
        `latents.shape[1]`, the latent channel count."""
        if self.options.flux_recipe == "upstream":
            return int(latents.shape[1])
        return (latents.shape[-2] // 2) * (latents.shape[-1] // 2)

    def forward(self, image: np.ndarray, prompts: tuple[str, ...], n_cols: int, layers: list[int],
                chunk: int) -> tuple[dict[int, torch.Tensor], tuple[int, int]]:
        import torch
        from diffusers import FluxPipeline

        pipe, rows = self.pipe, len(prompts)
        x0 = self.latents(self.pixels(image, signed=self.options.flux_recipe != "upstream"))
        _, ch, h, w = x0.shape
        timestep = self.noise_level(self.shift_tokens(x0))[0].to(self.device)
        noisy = pipe.scheduler.scale_noise(x0, timestep[None], self.noise(tuple(x0.shape)).to(x0))
        packed = FluxPipeline._pack_latents(noisy, 1, ch, h, w).expand(rows, -1, -1)
        img_ids = FluxPipeline._prepare_latent_image_ids(1, h // 2, w // 2, self.device, self.dtype)
        with torch.inference_mode():
            embeds, pooled, txt_ids = pipe.encode_prompt(prompt=list(prompts), prompt_2=None, device=self.device,
                                                         max_sequence_length=self.options.max_sequence_length)
            guidance = (torch.full((rows,), self.options.guidance, device=self.device, dtype=torch.float32)
                        if pipe.transformer.config.guidance_embeds else None)
            layout = TextLayout(image_first=False, text_len=embeds.shape[1], n_cols=n_cols)
            sigma = (timestep / 1000).expand(rows).to(self.dtype)  # FluxPipeline passes t / 1000
            with self.captured(layers, layout, chunk) as maps:
                pipe.transformer(hidden_states=packed, timestep=sigma, guidance=guidance,
                                 pooled_projections=pooled.to(self.dtype), encoder_hidden_states=embeds.to(self.dtype),
                                 txt_ids=txt_ids, img_ids=img_ids, return_dict=False)
        return dict(maps), (h // 2, w // 2)
