"""The FLUX.1 backend of `conceptattention`: diffusers' `FluxTransformer2DModel` with T5 (and optionally CLIP) text.

Latents are the VAE mode, shifted and scaled as `FluxPipeline` does, packed 2x2 into tokens. The caption is
T5-encoded padded to `max_sequence_length` without an attention mask, as `FluxPipeline._get_t5_prompt_embeds`. Each
concept is T5-encoded on its own and only its first token kept (T5 is bidirectional, so the first token has seen the
whole concept). The pooled vector is zeros by default, or CLIP's pooled output with `pooled=clip`, for the caption
and for the concepts (all names joined). The forward is `flux1_stream.concept_stream`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .backend import ConceptBackend
from .options import DEFAULT_WEIGHTS

if TYPE_CHECKING:
    import torch

    from partbench.tiny_models.flux1_tiny import Flux1Components

    from .options import ConceptAttentionOptions


class Flux1Backend(ConceptBackend):
    device_modules = ("transformer", "vae", "text_encoder_2", "text_encoder")
    parts: Flux1Components

    @staticmethod
    def tiny_config() -> dict[str, Any]:
        from partbench.tiny_models.flux1_tiny import TinyFlux1Config

        return TinyFlux1Config().to_dict()

    @staticmethod
    def tiny_components(seed: int) -> Flux1Components:
        from partbench.tiny_models.flux1_tiny import tiny_flux1_components

        return tiny_flux1_components(seed)

    @staticmethod
    def load_components(options: ConceptAttentionOptions, dtype: torch.dtype) -> Flux1Components:
        from diffusers import AutoencoderKL, FluxTransformer2DModel
        from transformers import T5EncoderModel, T5TokenizerFast

        from partbench.adapters.pipeline_folders import require_subfolders
        from partbench.tiny_models.flux1_tiny import Flux1Components
        from partbench.weights import resolve_model

        path = resolve_model(options.weights, what="FLUX.1 model (ConceptAttention)", revision=options.revision)
        require_subfolders(path, ("transformer", "vae", "text_encoder_2", "tokenizer_2")
                           + (("text_encoder", "tokenizer") if options.pooled == "clip" else ()),
                           label="FLUX.1 model", pipeline="FLUX.1", example=DEFAULT_WEIGHTS)
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

    # -- text --------------------------------------------------------------------------------------------------------
    def t5(self, texts: list[str]) -> torch.Tensor:
        """(B, max_sequence_length, D) T5 outputs of `texts`, padded as FluxPipeline pads the caption."""
        import torch

        tok = self.parts.tokenizer_2(texts, padding="max_length", max_length=self.parts.max_sequence_length,
                                     truncation=True, return_tensors="pt")
        with torch.inference_mode():  # no attention mask, as FluxPipeline._get_t5_prompt_embeds
            return self.parts.text_encoder_2(tok["input_ids"].to(self.device))[0].to(self.dtype)

    def encode_concepts(self, texts: list[str]) -> list[torch.Tensor]:
        return list(self.t5(texts)[:, 0])

    def pooled(self, text: str) -> torch.Tensor:
        """(1, pooled_projection_dim): zeros, or CLIP's pooled output of `text` with `pooled=clip`."""
        import torch

        dim = self.parts.transformer.config.pooled_projection_dim
        if self.options.pooled == "zeros":
            return torch.zeros(1, dim, device=self.device, dtype=self.dtype)
        tok = self.parts.tokenizer([text], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            return self.parts.text_encoder(tok["input_ids"].to(self.device)).pooler_output.to(self.dtype)

    # -- image and forward -------------------------------------------------------------------------------------------
    def latents(self, image: np.ndarray) -> torch.Tensor:
        """(1, latent_channels, h, w) clean latents, shifted and scaled as FluxPipeline's."""
        import torch

        x = self.pixels(image)
        vae = self.parts.vae
        with torch.inference_mode():
            z = self.clean_latent(vae.encode(x.to(self.device, self.dtype)).latent_dist)
        return (z - vae.config.shift_factor) * vae.config.scaling_factor

    def scores(self, image: np.ndarray, concepts: list[str], prompt: str) -> torch.Tensor:
        import torch
        from diffusers import FluxPipeline

        from .flux1_stream import StreamInputs, concept_stream

        x0 = self.latents(image)
        _, ch, h, w = x0.shape
        noisy, steps = self.noised(x0)
        b = len(steps)
        latents = FluxPipeline._pack_latents(noisy, b, ch, h, w)
        img_ids = FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, self.device, self.dtype)
        prompt_embeds = self.t5([prompt]).expand(b, -1, -1)
        concept_embeds = self.concept_embeddings(concepts)[None].expand(b, -1, -1)
        guidance = (torch.zeros(b, device=self.device) if self.parts.transformer.config.guidance_embeds else None)
        inputs = StreamInputs(
            latents=latents, img_ids=img_ids, prompt_embeds=prompt_embeds,
            txt_ids=torch.zeros(prompt_embeds.shape[1], 3, device=self.device, dtype=self.dtype),
            pooled=self.pooled(prompt).expand(b, -1), concept_embeds=concept_embeds,
            concept_pooled=self.pooled(" ".join(concepts)).expand(b, -1),
            timestep=torch.tensor(steps, device=self.device, dtype=self.dtype), guidance=guidance)
        out = concept_stream(self.parts.transformer, inputs, self.layers, self.options.projection,
                             self.options.normalize)
        return self.aggregate(out, b).reshape(len(concepts), h // 2, w // 2)
