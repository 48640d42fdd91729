"""Alpha-CLIP (Sun et al., CVPR 2024) on open_clip's ViT: CLIP whose image encoder also reads an alpha map saying
where to look, for PartEdit's αCLIP metrics (docs/partedit.md).

Alpha-CLIP is OpenAI CLIP with one addition in the vision tower: a bias-free patch embedding of the alpha channel,
`conv1_alpha`, added to the RGB patch embedding (`x = conv1(rgb) + conv1_alpha(alpha)`); the text tower is OpenAI
CLIP's, unchanged. Here the open_clip model's `visual.conv1` is replaced by `AlphaPatchEmbed`, which takes the RGB
and alpha channels as one 4-channel input, so open_clip's own forward runs unchanged.

Weights, never downloaded: the base CLIP (text tower, and the vision tower Alpha-CLIP fine-tuned) is open_clip's
`<model>/openai`, found as clip_score finds it (`partbench.metrics.clip_score`); the Alpha-CLIP vision checkpoint is
one of the official files (`CHECKPOINTS`, Google Drive links in SunzeY/AlphaCLIP's model-zoo.md), looked up at
`alpha_clip_weights=PATH` or `<PARTBENCH_CACHE>/alpha-clip/<file>`. Official checkpoints use OpenAI CLIP's key
names (`attn.in_proj.weight`); `upstream_state_dict` maps them onto open_clip's. Alpha maps are preprocessed as
upstream's README says (binary mask × 255 → [0, 1] → Normalize(0.5, 0.26)), with the image's own resize and centre
crop so that alpha stays aligned with the pixels (upstream resizes the mask to a square without cropping, which
misaligns it on non-square images).

`tiny`: a random tiny open_clip CLIP and alpha embedding built from `TINY_CONFIG` (seed 0), for tests only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import PartbenchError
from partbench.metrics.clip_score import TINY, tiny_clip

if TYPE_CHECKING:
    from PIL.Image import Image

# open_clip model name -> the official Alpha-CLIP vision checkpoint (trained on GRIT-1M) and where to get it.
CHECKPOINTS = {
    "ViT-B-16": ("clip_b16_grit1m_fultune_8xe.pth",
                 "https://drive.google.com/file/d/16fHEXZ-7bgzcSBHzEz1wXRIZTjQIXm_2/view"),
    "ViT-L-14": ("clip_l14_grit1m_fultune_8xe.pth",
                 "https://drive.google.com/file/d/1PIhplBnsmSWiJN--TXCCSsiaV6bY9koq/view"),
    "ViT-L-14-336": ("clip_l14@336_grit1m_fultune_8xe.pth",
                     "https://drive.google.com/file/d/1DeNbUv0lraDxJZItb7shTlvGW6z_Z9Si/view"),
}
DEFAULT_MODEL = "ViT-L-14"  # PartEdit does not say which Alpha-CLIP it used; the largest 224-px one
ALPHA_MEAN, ALPHA_STD = 0.5, 0.26  # upstream's Normalize(0.5, 0.26) of the [0, 1] alpha map


def alpha_patch_embed(rgb_conv: Any) -> Any:
    """An `AlphaPatchEmbed` around an RGB patch embedding, its alpha kernel zero (Alpha-CLIP's initialisation: the
    model then equals plain CLIP)."""
    import torch

    class AlphaPatchEmbed(torch.nn.Module):
        """conv1(rgb) + conv1_alpha(alpha) on a 4-channel (RGB, alpha) input; both bias-free, same kernel/stride."""

        def __init__(self, rgb: torch.nn.Conv2d):
            super().__init__()
            self.rgb = rgb
            self.alpha = torch.nn.Conv2d(1, rgb.out_channels, kernel_size=rgb.kernel_size, stride=rgb.stride,
                                         bias=False)
            torch.nn.init.zeros_(self.alpha.weight)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rgb(x[:, :3]) + self.alpha(x[:, 3:4].to(x.dtype))

    return AlphaPatchEmbed(rgb_conv)


def upstream_state_dict(state: dict[str, Any], where: str) -> dict[str, Any]:
    """An official Alpha-CLIP vision checkpoint (OpenAI CLIP key names) as open_clip's `visual` keys."""
    out = {}
    for key, value in state.items():
        if "lora_" in key:
            raise PartbenchError(f"{where}: holds LoRA weights ({key}); use a full fine-tune checkpoint "
                                 f"(*_fultune_*.pth).")
        new = key.replace("attn.in_proj.weight", "attn.in_proj_weight").replace("attn.in_proj.bias",
                                                                                   "attn.in_proj_bias")
        if new == "conv1.weight":
            new = "conv1.rgb.weight"
        elif new == "conv1_alpha.weight":
            new = "conv1.alpha.weight"
        out[new] = value
    if "conv1.alpha.weight" not in out:
        raise PartbenchError(f"{where}: not an Alpha-CLIP vision checkpoint (no conv1_alpha.weight).")
    return out


@dataclass(frozen=True)
class AlphaClipSpec:
    """Which Alpha-CLIP scores: the base CLIP (open_clip name + tag or file) and the Alpha-CLIP vision checkpoint."""

    model: str = DEFAULT_MODEL  # open_clip model name, or `tiny`
    pretrained: str = "openai"
    weights: str = ""  # the Alpha-CLIP checkpoint; "" = <PARTBENCH_CACHE>/alpha-clip/<official file name>
    device: str = "cpu"
    batch_size: int = 16

    def describe(self) -> dict[str, Any]:
        return asdict(self) | {"alpha_checkpoint": None if self.model == TINY else str(self.checkpoint_path())}

    def checkpoint_path(self) -> Path:
        """The Alpha-CLIP vision checkpoint; a `WeightsNotFoundError` saying which file and where to get it."""
        from partbench.store.inputs import cache_dir
        from partbench.weights import WeightsNotFoundError

        if self.weights:
            path = Path(self.weights).expanduser()
            if path.is_file():
                return path
            raise WeightsNotFoundError(f"Alpha-CLIP checkpoint {path} does not exist (alpha_clip_weights=PATH).")
        if self.model not in CHECKPOINTS:
            raise WeightsNotFoundError(f"No official Alpha-CLIP checkpoint for {self.model!r} (there are: "
                                       f"{', '.join(CHECKPOINTS)}); pass alpha_clip_weights=PATH.")
        name, url = CHECKPOINTS[self.model]
        path = cache_dir() / "alpha-clip" / name
        if not path.is_file():
            raise WeightsNotFoundError(
                f"Alpha-CLIP {self.model} needs its official checkpoint {name}, which is not at {path}; partbench "
                f"never downloads it. Get it from {url} (SunzeY/AlphaCLIP model-zoo.md) and put it there, or pass "
                f"--method-arg alpha_clip_weights=PATH.")
        return path

    def fingerprint(self) -> str:
        """Identifies the scorer without loading it (files by name, size and time, as clip_score does)."""
        from partbench.metrics.clip_score import ClipSpec
        from partbench.weights import weights_fingerprint

        if self.model == TINY:
            return "alpha-clip-tiny-v1"
        base = ClipSpec(model=self.model, pretrained=self.pretrained).fingerprint()
        alpha = weights_fingerprint(self.checkpoint_path())
        return hashlib.sha256(f"alpha-clip-v1\0{base}\0{alpha}".encode()).hexdigest()[:16]


class AlphaClip:
    """Image (with alpha) and text embeddings, one model load for many batches."""

    def __init__(self, spec: AlphaClipSpec):
        import torch

        from partbench.devices import select_device

        self.spec, self._torch = spec, torch
        self.device = torch.device(select_device(spec.device, arg="clip_device"))
        if spec.model == TINY:
            self.model, self.preprocess, self.tokenizer = tiny_clip()
        else:
            from partbench.metrics.clip_score import ClipScorer, ClipSpec

            base = ClipScorer(ClipSpec(model=spec.model, pretrained=spec.pretrained, device="cpu"))
            self.model, self.preprocess, self.tokenizer = base.model, base.preprocess, base.tokenizer
        visual = self.model.visual
        visual.conv1 = alpha_patch_embed(visual.conv1)
        if spec.model == TINY:
            torch.nn.init.normal_(visual.conv1.alpha.weight, std=0.02)  # a random alpha path, so alpha matters
        else:
            path = spec.checkpoint_path()
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # torch raises many types for a damaged or foreign file
                raise PartbenchError(f"{path}: cannot read the Alpha-CLIP checkpoint ({e}).") from None
            missing, unexpected = visual.load_state_dict(upstream_state_dict(state, str(path)), strict=False)
            if missing or unexpected:
                raise PartbenchError(f"{path}: does not fit open_clip {spec.model}'s vision tower (missing "
                                     f"{missing[:3]}, unexpected {unexpected[:3]}).")
        self.model = self.model.to(self.device).eval()
        size = visual.image_size
        self.size = int(size[0] if isinstance(size, (tuple, list)) else size)

    def _alpha(self, mask: np.ndarray) -> Any:
        """The alpha channel of one image: the mask through the image's resize and centre crop, normalised."""
        import torchvision.transforms.functional as F
        from PIL import Image

        im = Image.fromarray(mask.astype(np.uint8) * 255)
        im = F.center_crop(F.resize(im, self.size, interpolation=F.InterpolationMode.BILINEAR), [self.size] * 2)
        return (F.to_tensor(im) - ALPHA_MEAN) / ALPHA_STD

    def image_features(self, images: Sequence[Image], masks: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised embeddings of images seen through their alpha masks (True = attend here)."""
        torch = self._torch
        out = []
        for start in range(0, len(images), self.spec.batch_size):
            chunk = range(start, min(start + self.spec.batch_size, len(images)))
            x = torch.stack([torch.cat([self.preprocess(images[i].convert("RGB")), self._alpha(masks[i])])
                             for i in chunk]).to(self.device)
            with torch.inference_mode():
                out.append(self.model.encode_image(x).double().cpu().numpy())
        return _normalised(np.concatenate(out)) if out else np.zeros((0, 0))

    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            feats = self.model.encode_text(self.tokenizer(list(texts)).to(self.device))
        return _normalised(feats.double().cpu().numpy())


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)
