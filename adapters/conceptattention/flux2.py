"""The FLUX.2 backend of `conceptattention`: diffusers' `Flux2Transformer2DModel` with Qwen3 text (Klein).

Latents are the Klein pipeline's (VAE mode, 2x2 patchify, normalised by the VAE's batch-norm statistics), and noise
is drawn in that space. The caption is encoded exactly as `Flux2KleinPipeline` does (chat template, padded to
`max_sequence_length`, hidden states of the base layers stacked). Each concept is encoded on its own (chat template,
no padding) and its LAST content token kept: the text encoder is causal, so that is the first token to have seen the
whole concept. FLUX.2 has no pooled vector; the concepts share the text stream's modulation. The forward is
`flux2_stream.concept_stream`. Where this departs from ConceptAttention's own FLUX.2 port: docs/conceptattention.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .backend import ConceptBackend
from .options import DEFAULT_WEIGHTS_FLUX2

if TYPE_CHECKING:
    import torch

    from partbench.tiny_models.flux2_tiny import Flux2Components

    from .options import ConceptAttentionOptions

FLUX2_TEXT_LAYERS = (9, 18, 27)  # Klein's hidden_states_layers


class Flux2Backend(ConceptBackend):
    device_modules = ("transformer", "vae", "text_encoder")
    parts: Flux2Components

    @staticmethod
    def tiny_config() -> dict[str, Any]:
        from partbench.tiny_models.flux2_tiny import TinyFlux2Config

        return TinyFlux2Config().to_dict()

    @staticmethod
    def tiny_components(seed: int) -> Flux2Components:
        from partbench.tiny_models.flux2_tiny import tiny_flux2_components

        return tiny_flux2_components(seed)

    @staticmethod
    def load_components(options: ConceptAttentionOptions, dtype: torch.dtype) -> Flux2Components:
        from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
        from transformers import AutoTokenizer, Qwen3ForCausalLM

        from partbench.adapters.pipeline_folders import require_subfolders
        from partbench.tiny_models.flux2_tiny import Flux2Components
        from partbench.weights import resolve_model

        path = resolve_model(options.weights, what="FLUX.2 model (ConceptAttention)", revision=options.revision)
        require_subfolders(path, ("transformer", "vae", "text_encoder", "tokenizer"), label="FLUX.2 model",
                           pipeline="FLUX.2 Klein", example=DEFAULT_WEIGHTS_FLUX2)
        transformer = Flux2Transformer2DModel.from_pretrained(path, subfolder="transformer", torch_dtype=dtype)
        return Flux2Components(
            transformer=transformer.eval(),
            vae=AutoencoderKLFlux2.from_pretrained(path, subfolder="vae", torch_dtype=dtype).eval(),
            text_encoder=Qwen3ForCausalLM.from_pretrained(path, subfolder="text_encoder", torch_dtype=dtype).eval(),
            tokenizer=AutoTokenizer.from_pretrained(path, subfolder="tokenizer"), scheduler=None,
            base_layers=FLUX2_TEXT_LAYERS, max_sequence_length=options.max_sequence_length, preset="weights")

    # -- text --------------------------------------------------------------------------------------------------------
    def prompt_embeddings(self, text: str) -> torch.Tensor:
        """(1, T, D) caption embeddings exactly as `Flux2KleinPipeline.encode_prompt` computes them."""
        import torch
        from diffusers import Flux2KleinPipeline

        with torch.inference_mode():
            return Flux2KleinPipeline._get_qwen3_prompt_embeds(
                self.parts.text_encoder, self.parts.tokenizer, [text], dtype=self.dtype, device=self.device,
                max_sequence_length=self.parts.max_sequence_length, hidden_states_layers=tuple(self.parts.base_layers))

    def concept_embedding(self, text: str) -> torch.Tensor:
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

    def encode_concepts(self, texts: list[str]) -> list[torch.Tensor]:
        return [self.concept_embedding(t) for t in texts]

    # -- image and forward -------------------------------------------------------------------------------------------
    def latents(self, image: np.ndarray) -> torch.Tensor:
        """(1, 4*latent_channels, h, w) model-space latents, as `Flux2KleinPipeline._encode_vae_image` (mode)."""
        import torch
        from diffusers import Flux2KleinPipeline

        x = self.pixels(image)
        vae = self.parts.vae
        with torch.inference_mode():
            posterior = vae.encode(x.to(self.device, self.dtype)).latent_dist
            z = Flux2KleinPipeline._patchify_latents(self.clean_latent(posterior))
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(z)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(z)
        return (z - mean) / std

    def scores(self, image: np.ndarray, concepts: list[str], prompt: str) -> torch.Tensor:
        import torch
        from diffusers import Flux2KleinPipeline

        from .flux2_stream import Flux2StreamInputs, concept_stream

        x0 = self.latents(image)
        _, _, h, w = x0.shape
        noisy, steps = self.noised(x0)
        b = len(steps)
        prompt_embeds = self.prompt_embeddings(prompt)
        guidance = (torch.zeros(b, device=self.device) if self.parts.transformer.config.guidance_embeds else None)
        inputs = Flux2StreamInputs(
            latents=Flux2KleinPipeline._pack_latents(noisy),
            img_ids=Flux2KleinPipeline._prepare_latent_ids(x0)[0].to(self.device),
            prompt_embeds=prompt_embeds.expand(b, -1, -1),
            txt_ids=Flux2KleinPipeline._prepare_text_ids(prompt_embeds)[0].to(self.device),
            concept_embeds=self.concept_embeddings(concepts)[None].expand(b, -1, -1),
            timestep=torch.tensor(steps, device=self.device, dtype=self.dtype), guidance=guidance)
        out = concept_stream(self.parts.transformer, inputs, self.layers, self.options.projection,
                             self.options.normalize)
        return self.aggregate(out, b).reshape(len(concepts), h, w)
