"""The mask decoder: per PartConcept, its per-layer attention maps (on the latent token grid) are upsampled through
stacked conv + 2x upsampling stages to image resolution; the clean image, resized, is concatenated at every scale
(boundary cues the coarse maps lack); a final 1x1 conv and a sigmoid give one mask per PartConcept."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    groups = 8 if c_out % 8 == 0 else 1
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.SiLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.SiLU())


class PartMaskDecoder(nn.Module):
    """maps (N, L, h, w) + images (N, 3, H, W) -> mask logits (N, H, W), H = h * 2**upsample_stages."""

    def __init__(self, num_maps: int, upsample_stages: int, width: int = 32, image_channels: int = 3):
        super().__init__()
        self.num_maps, self.upsample_stages = num_maps, upsample_stages
        widths = [max(width // (2 ** s), 8) for s in range(upsample_stages + 1)]
        self.stages = nn.ModuleList()
        c_in = num_maps
        for w in widths:
            self.stages.append(_conv_block(c_in + image_channels, w))
            c_in = w
        self.head = nn.Conv2d(c_in, 1, 1)

    def forward(self, maps: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        x = maps
        for s, stage in enumerate(self.stages):
            if s:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            image = F.interpolate(images, size=x.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
            x = stage(torch.cat([x, image], dim=1))
        logits = self.head(x)[:, 0]
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        return logits

    def masks(self, maps: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward(maps, images))
