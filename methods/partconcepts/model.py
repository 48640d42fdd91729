"""PartConcepts wiring: PartConcept encoder -> mmDiT forward with attention capture -> mask decoder.

One call of `segment` is one mmDiT forward at noise level sigma: it returns the decoded mask logits per PartConcept
and the transformer's velocity prediction (for the flow-matching loss), so training and inference share the path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from partbench.methods.partconcepts.capture import AttentionCapture
from partbench.methods.partconcepts.decoder import PartMaskDecoder
from partbench.methods.partconcepts.encoder import PartConceptEncoder, apply_partconcept_lora, part_layer_indices
from partbench.methods.partconcepts.presets import PartConceptsConfig, build_components

DIT_LORA_TARGETS = (r".*(transformer_blocks\.\d+\.attn\.(to_q|to_k|to_v|to_out\.0|add_q_proj|add_k_proj|add_v_proj"
                    r"|to_add_out)|single_transformer_blocks\.\d+\.attn\.(to_qkv_mlp_proj|to_out))$")


@dataclass
class SegmentationOutput:
    mask_logits: torch.Tensor  # (B, C, R, R)
    concept_mask: torch.Tensor  # (B, C) bool: real concepts
    phrases: list[tuple[str, ...]]
    velocity: torch.Tensor  # (B, N_img, in_channels): the transformer's prediction
    maps: torch.Tensor  # (B, C, L, h, w) scaled attention maps (for figures)


class PartConceptsModel(nn.Module):
    def __init__(self, config: PartConceptsConfig, components=None):
        super().__init__()
        from peft import LoraConfig, inject_adapter_in_model

        self.config = config
        comps = components or build_components(config)
        self.components = comps
        self.vae = comps.vae
        self.text_encoder = apply_partconcept_lora(comps.text_encoder, comps.base_layers, config.concept_lora_rank)
        self.transformer = inject_adapter_in_model(
            LoraConfig(r=config.dit_lora_rank, lora_alpha=config.dit_lora_rank, target_modules=DIT_LORA_TARGETS),
            comps.transformer, adapter_name="partconcept")
        self.encoder = PartConceptEncoder(self.text_encoder, comps.tokenizer, comps.base_layers,
                                          comps.max_sequence_length, pooling=config.pooling)
        self.capture = AttentionCapture(self.transformer, config.capture_layers)
        self.token_stride = 2 * comps.vae_scale_factor
        if config.resolution % self.token_stride:
            raise ValueError(f"resolution must be a multiple of {self.token_stride}")
        self.decoder = PartMaskDecoder(len(self.capture.layers), int(math.log2(self.token_stride)),
                                       width=config.decoder_width)
        self.set_trainable()

    # -- parameters -------------------------------------------------------------------------------------------------
    def set_trainable(self) -> None:
        """LoRAs + decoder (paper), or everything but the VAE (`trainable=full`, tiny preset)."""
        full = self.config.trainable == "full"
        self.vae.requires_grad_(False)
        for module in (self.text_encoder, self.transformer):
            for name, p in module.named_parameters():
                p.requires_grad_(full or "lora_" in name)
        self.decoder.requires_grad_(True)
        # Text-encoder layers after the deepest PartConcept layer (and the final norm, applied only to the last
        # hidden state) never reach the conditioning: they get no gradient. Frozen, so that DistributedDataParallel
        # does not wait for their gradients (only `full` mode had them trainable; AdamW skipped them anyway).
        layers = self.text_encoder.model.layers
        deepest = max(part_layer_indices(self.components.base_layers))
        for layer in layers[deepest + 1:]:
            layer.requires_grad_(False)
        if deepest + 1 < len(layers):
            self.text_encoder.model.norm.requires_grad_(False)

    def upcast_trainable(self) -> None:
        """fp32 master weights: trained parameters (LoRAs, decoder; full mode: everything trained) in float32 while the
        frozen base stays in its dtype (bf16 for Klein). Run under bf16 autocast, matmuls still run in bf16, but
        AdamW keeps fp32 weights and states, so updates far smaller than a bf16 weight's spacing are not rounded
        away."""
        for p in self.parameters():
            if p.requires_grad and p.is_floating_point() and p.dtype != torch.float32:
                p.data = p.data.float()

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each mmDiT block (diffusers' checkpointing, non-reentrant) and each decoder stage in backward
        instead of keeping their activations; the attention capture keeps its hooks for the recomputation (see
        `AttentionCapture.keep_for_backward`). Call `release_capture()` after each backward."""
        self.transformer.enable_gradient_checkpointing()
        self.capture.keep_for_backward = True
        self.decoder.checkpoint_stages = True

    def release_capture(self) -> None:
        self.capture.release()

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """What a checkpoint stores: everything for the tiny preset (its base is random, so the file is then
        self-contained), else only what training changes (LoRAs, decoder; full mode: text encoder + mmDiT)."""
        # lm_head is tied to the token embedding (and unused: only hidden states are read); safetensors refuses
        # shared tensors, so it is left out and re-tied on load.
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("text_encoder.lm_head.")}
        if self.config.preset == "tiny":
            return state
        keep = lambda k: "lora_" in k or k.startswith("decoder.") or (  # noqa: E731
            self.config.trainable == "full" and not k.startswith("vae."))
        return {k: v for k, v in state.items() if keep(k)}

    # -- forward pieces ---------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.decoder.parameters()).device

    @torch.no_grad()
    def _patchified_latents(self, images: torch.Tensor) -> torch.Tensor:
        from diffusers import Flux2KleinPipeline as P

        vae = self.vae
        return P._patchify_latents(vae.encode(images.to(vae.device, vae.dtype)).latent_dist.mode())

    @torch.no_grad()
    def calibrate_latent_statistics(self, images: torch.Tensor, batch: int = 32) -> None:
        """Set the VAE's latent normalisation (the running mean/variance of `vae.bn`, which Klein's pipeline uses to
        map latents to and from the unit-variance space the transformer works in) from `images` (N, 3, R, R).

        Why: a trained VAE carries statistics measured on its training data; a random one (tiny preset) carries the
        identity (mean 0, variance 1), while its latents have a mean of ~0.3 and a std of ~0.3, so noise of std 1
        would drown the image at every noise level. Measuring them on the training crops restores the intended
        signal-to-noise ratio. Stored with the checkpoint (bn buffers), and used by generation too."""
        self.set_latent_statistics(torch.cat([self._patchified_latents(images[i:i + batch])
                                              for i in range(0, len(images), batch)]))

    @torch.no_grad()
    def set_latent_statistics(self, raw: torch.Tensor) -> None:
        """Per-channel mean and variance of raw patchified latents (N, C, h, w) as the VAE's normalisation."""
        self.vae.bn.running_mean.copy_(raw.mean(dim=(0, 2, 3)).to(self.vae.bn.running_mean))
        self.vae.bn.running_var.copy_(raw.var(dim=(0, 2, 3)).to(self.vae.bn.running_var))

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) in [-1, 1] -> normalised patchified latents (B, 4*latent_channels, R/s, R/s), as Klein does."""
        return self.normalise_latents(self._patchified_latents(images))

    @torch.no_grad()
    def normalise_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw patchified latents -> the unit-variance space the transformer works in (the VAE's bn statistics)."""
        vae = self.vae
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(latents)
        return (latents - mean) / std

    def forward(self, latents: torch.Tensor, images: torch.Tensor, prompts: Sequence[str], sigma: torch.Tensor,
                noise: torch.Tensor) -> SegmentationOutput:
        """`segment`, as the module's forward: training calls the (possibly DistributedDataParallel-wrapped) module,
        so that its gradients are synchronised across processes."""
        return self.segment(latents, images, prompts, sigma, noise)

    def segment(self, latents: torch.Tensor, images: torch.Tensor, prompts: Sequence[str], sigma: torch.Tensor,
                noise: torch.Tensor) -> SegmentationOutput:
        """One forward at noise level sigma (B,): x_t = sigma*noise + (1-sigma)*x0 (flow matching, as FLUX)."""
        from diffusers import Flux2KleinPipeline as P

        dtype = self.transformer.dtype
        enc = self.encoder.encode(prompts)
        x_t = sigma.view(-1, 1, 1, 1) * noise + (1 - sigma.view(-1, 1, 1, 1)) * latents
        embeds = enc.embeds.to(dtype)
        with self.capture.recording(enc.concept_positions, embeds.shape[1]) as rec:
            velocity = self.transformer(
                hidden_states=P._pack_latents(x_t).to(dtype), timestep=sigma.to(dtype), guidance=None,
                encoder_hidden_states=embeds, txt_ids=P._prepare_text_ids(embeds).to(latents.device),
                img_ids=P._prepare_latent_ids(x_t).to(latents.device), return_dict=False)[0]
        B, C = enc.concept_positions.shape
        h, w = latents.shape[-2:]
        n_keys = embeds.shape[1] + h * w
        maps = torch.stack(rec.maps, dim=2).view(B, C, len(rec.maps), h, w).float()
        if self.config.map_scale == "keys":
            maps = maps * n_keys
        image_index = torch.arange(B, device=maps.device).repeat_interleave(C)  # each concept's image
        logits = self.decoder(maps.reshape(B * C, *maps.shape[2:]), images.to(maps.device).float(),
                              image_index).view(B, C, *images.shape[-2:])
        return SegmentationOutput(logits, enc.concept_mask, enc.phrases, velocity, maps)
