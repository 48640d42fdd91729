"""The mask decoder: per PartConcept, its per-layer attention maps (on the latent token grid) are upsampled through
stacked conv + 2x upsampling stages to image resolution; the clean image, resized, is concatenated at every scale
(boundary cues the coarse maps lack); a final 1x1 conv and a sigmoid give one mask per PartConcept.

Cost: an image carries many PartConcepts (all of an object's parts), and they all see the same image. A stage's
first convolution is linear, so conv(cat[x, image]) = conv_x(x) + conv_image(image): the image half is computed once
per image and shared by its PartConcepts (`image_index`), which is the same function as concatenating the image to
every concept's maps (tested), without resizing and convolving the image once per concept.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


class _Stage(nn.Module):
    """conv(cat[x, image]) -> GroupNorm -> SiLU -> conv -> GroupNorm -> SiLU, with the image half of the first
    convolution applied per image (see the module docstring). Parameters are those of the plain concatenating
    block (`conv1` takes c_in + image channels)."""

    def __init__(self, c_in: int, image_channels: int, c_out: int):
        super().__init__()
        groups = 8 if c_out % 8 == 0 else 1
        self.c_in = c_in
        self.conv1 = nn.Conv2d(c_in + image_channels, c_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, c_out)

    def forward(self, x: torch.Tensor, image: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
        w = self.conv1.weight
        from_x = F.conv2d(x, w[:, :self.c_in], self.conv1.bias, padding=1)
        from_image = F.conv2d(image, w[:, self.c_in:], None, padding=1)  # once per image
        x = F.silu(self.norm1(from_x + from_image[image_index]))
        return F.silu(self.norm2(self.conv2(x)))


class PartMaskDecoder(nn.Module):
    """maps (N, L, h, w) + images (B, 3, H, W) -> mask logits (N, H, W), H = h * 2**upsample_stages.

    `image_index` (N,) names each map's image; None means one image per map (B == N)."""

    # The stages convolve few channels over many pixels, which oneDNN runs faster in NHWC than in NCHW on CPU
    # (benchmarks/partconcepts_decoder_layout.py); the function is the same either way.
    channels_last: bool = True
    # Training at 512 px decodes every PartConcept of the batch at full resolution (B x C maps of 512^2 x width):
    # with `checkpoint_stages` each stage's activations are recomputed in backward instead of kept (same values).
    checkpoint_stages: bool = False

    def __init__(self, num_maps: int, upsample_stages: int, width: int = 32, image_channels: int = 3):
        super().__init__()
        self.num_maps, self.upsample_stages = num_maps, upsample_stages
        widths = [max(width // (2 ** s), 8) for s in range(upsample_stages + 1)]
        self.stages = nn.ModuleList()
        c_in = num_maps
        for w in widths:
            self.stages.append(_Stage(c_in, image_channels, w))
            c_in = w
        self.head = nn.Conv2d(c_in, 1, 1)

    def forward(self, maps: torch.Tensor, images: torch.Tensor,
                image_index: torch.Tensor | None = None) -> torch.Tensor:
        if image_index is None:
            image_index = torch.arange(maps.shape[0], device=maps.device)
        x = maps
        if self.channels_last:
            x = maps.contiguous(memory_format=torch.channels_last)
            images = images.contiguous(memory_format=torch.channels_last)
        for s, stage in enumerate(self.stages):
            if s:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            image = F.interpolate(images, size=x.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
            if self.checkpoint_stages and torch.is_grad_enabled():
                x = checkpoint(stage, x, image, image_index, use_reentrant=False)
            else:
                x = stage(x, image, image_index)
        logits = self.head(x)[:, 0]
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        return logits

    def masks(self, maps: torch.Tensor, images: torch.Tensor, image_index: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.forward(maps, images, image_index))
