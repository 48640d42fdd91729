"""Part editing with PartConcepts: find the part on the source image in one segmentation pass, then regenerate with
FLUX.2 Klein from the edit prompt while the latents outside the found part are blended back from the source at
every step (docs/partconcepts.md, "Part editing").

Steps per sample (all at the working size: the source resized so that its long side is `resolution`, each side a
multiple of the token stride):
1. **Locate**: `a photo of a {class} with [part]`, the source's latents noised to the segmentation sigma with the
   sample's seeded noise, one mmDiT forward (`PartConceptsModel.segment`); the part's map is the decoder's
   probability (`map=decoder`) or the PartConcept token's attention, mean over the captured layers and min-max
   normalised (`map=attention`, PartEdit's kind of map).
2. **Mask at token resolution**: average the map over each token's pixels, threshold it (a probability, or `otsu`),
   dilate by `dilate` tokens, then give the `feather` tokens around it a linear ramp (edit weight between 0 and 1).
3. **Blended sampling**: the pipeline starts from the same seeded noise; after every step the latents become
   m * edited + (1 - m) * (sigma' * noise + (1 - sigma') * source), sigma' being the sigma the step reached, so
   the last step leaves the source's own latents outside the part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from partbench.methods.partconcepts.generate import klein_sampler

MAPS = ("decoder", "attention")


@dataclass(frozen=True)
class EditSettings:
    """How one edit is made (everything but the checkpoint and the prompts)."""

    resolution: int  # long side of the working size, pixels
    noise: float  # sigma of the localisation pass
    steps: int
    guidance: float
    distilled: bool
    map: str = "decoder"
    threshold: float | str = 0.5  # a value in [0, 1], or "otsu"
    dilate: int = 1  # tokens
    feather: int = 1  # tokens
    blend: bool = True


@dataclass
class EditResult:
    image: np.ndarray  # H×W×3 uint8 at the source's size
    part_map: torch.Tensor  # (h, w) or (H', W'): the map the mask was thresholded from, in [0, 1]
    weight: torch.Tensor  # (h, w) edit weight per latent token (1 = regenerated, 0 = source)
    latents: torch.Tensor  # (1, C, h, w) the final normalised patchified latents, before decoding


def working_size(size: tuple[int, int], resolution: int, stride: int) -> tuple[int, int]:
    """(H', W'): `size` scaled so that its long side is `resolution`, each side rounded to a multiple of `stride`
    (at least one token)."""
    h, w = size
    scale = resolution / max(h, w)
    return tuple(max(stride, int(round(s * scale / stride)) * stride) for s in (h, w))


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of `values` (the value maximising the between-class variance of a `bins`-bin histogram over
    their range), as scikit-image's `threshold_otsu` computes it; a constant map returns its value."""
    values = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return lo
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    w0, w1 = np.cumsum(counts), np.cumsum(counts[::-1])[::-1]
    m0 = np.cumsum(counts * centres) / np.maximum(w0, 1)
    m1 = (np.cumsum((counts * centres)[::-1]) / np.maximum(w1[::-1], 1))[::-1]
    between = w0[:-1] * w1[1:] * (m0[:-1] - m1[1:]) ** 2
    return float(centres[int(np.argmax(between))])


def token_weight(part_map: torch.Tensor, grid: tuple[int, int], threshold: float | str, dilate: int,
                 feather: int) -> torch.Tensor:
    """(h, w) edit weight per latent token from a part map at pixel or token resolution.

    A pixel-resolution map is first averaged over each token's pixels (the token's share of part), then
    thresholded: a token is edited when most of it is part. Dilation then adds the tokens the part only touches
    (a token half on the part must be regenerated, or the part's edge keeps the source's colour) and gives the edit
    room to meet the kept background; the feathered ring mixes the two there, since the VAE decoder's receptive
    field spans several tokens and a hard edge would show as a seam. Averaging first keeps isolated noisy pixels of
    an unsure map from marking whole tokens."""
    tokens = part_map.float()[None, None]
    if tokens.shape[-2:] != tuple(grid):
        tokens = F.adaptive_avg_pool2d(tokens, grid)
    cut = otsu_threshold(tokens.cpu().numpy()) if threshold == "otsu" else float(threshold)
    above = (tokens > cut).float()
    if dilate:
        above = F.max_pool2d(above, 2 * dilate + 1, stride=1, padding=dilate)
    weight = above
    if feather:  # 1 inside, then (feather + 1 - d) / (feather + 1) at token distance d outside, then 0
        ring = above
        for d in range(1, feather + 1):
            ring = F.max_pool2d(ring, 3, stride=1, padding=1)
            weight = torch.maximum(weight, ring * (feather + 1 - d) / (feather + 1))
    return weight[0, 0]


def _to_tensor(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """H×W×3 uint8 -> (1, 3, H', W') in [-1, 1]."""
    t = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float()[None] / 127.5 - 1
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)


def _to_source_size(image, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BICUBIC)
    return np.asarray(image.convert("RGB"))


@torch.no_grad()
def locate(model, image: torch.Tensor, latents: torch.Tensor, noise: torch.Tensor, prompt: str, sigma: float,
           map_kind: str) -> torch.Tensor:
    """The part's map from one segmentation forward: (H', W') decoder probability or (h, w) attention map, in
    [0, 1]. `prompt` names exactly one PartConcept."""
    s = torch.full((1,), float(sigma), device=latents.device)
    res = model.segment(latents, image.to(latents.device), [prompt], s, noise)
    if map_kind == "decoder":
        return torch.sigmoid(res.mask_logits[0, 0].float()).cpu()
    att = res.maps[0, 0].mean(0).cpu()
    return (att - att.min()) / (att.max() - att.min()).clamp_min(1e-12)


@torch.no_grad()
def edit_image(model, source: np.ndarray, locate_prompt: str, edit_prompt: str, seed: int,
               settings: EditSettings) -> EditResult:
    """One edited image at the source's size (see the module docstring). `seed` fixes the noise of both passes."""
    from diffusers import Flux2KleinPipeline as P

    size = working_size(source.shape[:2], settings.resolution, model.token_stride)
    image = _to_tensor(source, size).to(model.device)
    x0 = model.encode_images(image)
    noise = torch.randn(x0.shape[1:], generator=torch.Generator().manual_seed(int(seed)))[None].to(x0)
    part_map = locate(model, image, x0, noise, locate_prompt, settings.noise, settings.map)
    weight = token_weight(part_map, tuple(x0.shape[-2:]), settings.threshold, settings.dilate, settings.feather)

    pipe, negative = klein_sampler(model, settings.distilled)
    embeds = model.encoder.encode([edit_prompt]).embeds.to(model.transformer.dtype)
    m = P._pack_latents(weight[None, None].to(x0))  # (1, N, 1)
    source_packed, noise_packed = P._pack_latents(x0), P._pack_latents(noise)

    final: list[torch.Tensor] = []

    def blend_back(pipe_, _i, _t, kwargs):
        latents = kwargs["latents"]
        if settings.blend:
            sigma = pipe_.scheduler.sigmas[pipe_.scheduler.step_index].to(x0)  # the sigma this step reached
            kept = sigma * noise_packed + (1 - sigma) * source_packed
            kwargs["latents"] = latents = (m * latents.to(x0) + (1 - m) * kept).to(latents.dtype)
        final[:] = [latents]
        return kwargs

    out = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, height=size[0], width=size[1],
               num_inference_steps=settings.steps, guidance_scale=settings.guidance,
               latents=noise.to(embeds.dtype), generator=torch.Generator("cpu").manual_seed(int(seed)),
               callback_on_step_end=blend_back).images[0]
    h, w = x0.shape[-2:]
    latents = final[0].float().transpose(1, 2).reshape(1, -1, h, w).cpu()  # unpacked: tokens are row-major
    return EditResult(_to_source_size(out, source.shape[:2]), part_map, weight.cpu(), latents)


@torch.no_grad()
def reconstruct(model, source: np.ndarray, resolution: int) -> np.ndarray:
    """The source through the VAE at the working size and back to its own size, decoded as the pipeline decodes:
    what a perfectly kept background looks like (the reference for checking the blend; a random tiny VAE is far
    from the identity)."""
    from diffusers import Flux2KleinPipeline as P

    size = working_size(source.shape[:2], resolution, model.token_stride)
    x0 = model.encode_images(_to_tensor(source, size).to(model.device))
    vae = model.vae
    mean = vae.bn.running_mean.view(1, -1, 1, 1).to(x0)
    std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(x0)
    decoded = vae.decode(P._unpatchify_latents(x0 * std + mean).to(vae.dtype), return_dict=False)[0]
    pipe, _ = klein_sampler(model, True)
    return _to_source_size(pipe.image_processor.postprocess(decoded, output_type="pil")[0], source.shape[:2])
