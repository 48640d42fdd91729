"""The SD3 / SD3.5 backbone of `seg4diff`: diffusers' `StableDiffusion3Pipeline` without T5, as upstream runs it.

Upstream (`sd3_backbone.py`, `sd35_backbone.py`) loads the pipeline with `text_encoder_3=None`, so the prompt is read
by CLIP-L and CLIP-G only (77 tokens) and the T5 half of the text sequence is 77 zero vectors: the joint attention
sees 4096 image tokens, then 77 CLIP tokens, then 77 zero-text tokens, and the softmax runs over all of them. The
captured columns are the CLIP tokens. Blocks are `transformer.transformer_blocks` (SD3-medium and SD3.5-medium: 24);
the joint attention is `block.attn` (SD3.5's first blocks also have an image-only `attn2`, not captured).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .backbone import Backbone
from .capture import TextLayout, sd3_qk

if TYPE_CHECKING:
    import torch

CLIP_LENGTH = 77
SD3_FOLDERS = ("transformer", "vae", "scheduler", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")


class SD3Backbone(Backbone):
    max_length = CLIP_LENGTH
    qk = staticmethod(sd3_qk)

    def tiny_pipeline(self, seed: int) -> Any:
        from partbench.tiny_models.sd3_tiny import tiny_sd3_pipeline

        return tiny_sd3_pipeline(seed, dual=self.options.model == "sd35")

    def load_pipeline(self) -> Any:
        from diffusers import StableDiffusion3Pipeline

        path = self.weights_path()
        self.check_folders(path, SD3_FOLDERS)
        return StableDiffusion3Pipeline.from_pretrained(path, text_encoder_3=None, tokenizer_3=None,
                                                        torch_dtype=self.dtype, local_files_only=True)

    def attentions(self) -> list[Any]:
        return [block.attn for block in self.pipe.transformer.transformer_blocks]

    @property
    def tokenizers(self) -> list[Any]:
        return [self.pipe.tokenizer, self.pipe.tokenizer_2]

    def forward(self, image: np.ndarray, prompts: tuple[str, ...], n_cols: int, layers: list[int],
                chunk: int) -> tuple[dict[int, torch.Tensor], tuple[int, int]]:
        import torch

        pipe, rows = self.pipe, len(prompts)
        x0 = self.latents(self.pixels(image))
        timestep = self.noise_level()[0].to(self.device)
        noisy = pipe.scheduler.scale_noise(x0, timestep[None], self.noise(tuple(x0.shape)).to(x0))
        with torch.inference_mode():
            embeds, _, pooled, _ = pipe.encode_prompt(
                prompt=list(prompts), prompt_2=None, prompt_3=None, device=self.device,
                do_classifier_free_guidance=False, max_sequence_length=CLIP_LENGTH)
            layout = TextLayout(image_first=True, text_len=embeds.shape[1], n_cols=n_cols)
            with self.captured(layers, layout, chunk) as maps:
                pipe.transformer(hidden_states=noisy.expand(rows, -1, -1, -1), timestep=timestep.expand(rows),
                                 encoder_hidden_states=embeds.to(self.dtype), pooled_projections=pooled.to(self.dtype),
                                 return_dict=False)
        patch = pipe.transformer.config.patch_size
        return dict(maps), (x0.shape[-2] // patch, x0.shape[-1] // patch)
