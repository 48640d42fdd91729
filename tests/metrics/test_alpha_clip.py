"""Alpha-CLIP on open_clip's ViT against an independent forward written from the official Alpha-CLIP vision tower
(SunzeY/AlphaCLIP alpha_clip/model.py: `conv1(x) + conv1_alpha(alpha)`, then OpenAI CLIP's ViT with `in_proj` as a
Linear), fed a state dict in the official checkpoint's key names; plus the masked crop worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")


def _official_names(visual) -> dict:
    """The tiny model's vision weights under the official checkpoint's key names."""
    out = {}
    for k, v in visual.state_dict().items():
        k = k.replace("attn.in_proj_weight", "attn.in_proj.weight").replace("attn.in_proj_bias", "attn.in_proj.bias")
        k = {"conv1.rgb.weight": "conv1.weight", "conv1.alpha.weight": "conv1_alpha.weight"}.get(k, k)
        out[k] = v.clone()
    return out


def _reference_forward(sd: dict, rgb: torch.Tensor, alpha: torch.Tensor, heads: int) -> torch.Tensor:
    """Alpha-CLIP's VisionTransformer.forward, from the official code's structure, on its own key names."""
    F = torch.nn.functional

    def ln(x, name):
        return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"])

    x = F.conv2d(rgb, sd["conv1.weight"], stride=sd["conv1.weight"].shape[-1])
    x = x + F.conv2d(alpha, sd["conv1_alpha.weight"], stride=sd["conv1_alpha.weight"].shape[-1])
    x = x.flatten(2).permute(0, 2, 1)
    x = torch.cat([sd["class_embedding"].expand(x.shape[0], 1, -1), x], dim=1) + sd["positional_embedding"]
    x = ln(x, "ln_pre")
    n_blocks = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
    for i in range(n_blocks):
        p = f"transformer.resblocks.{i}"
        h = ln(x, f"{p}.ln_1")
        q, k, v = F.linear(h, sd[f"{p}.attn.in_proj.weight"], sd[f"{p}.attn.in_proj.bias"]).chunk(3, dim=-1)
        b, n, c = q.shape
        q, k, v = (t.reshape(b, n, heads, c // heads).transpose(1, 2) for t in (q, k, v))
        attn = ((q * (c // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        h = (attn @ v).transpose(1, 2).reshape(b, n, c)
        x = x + F.linear(h, sd[f"{p}.attn.out_proj.weight"], sd[f"{p}.attn.out_proj.bias"])
        h = F.linear(ln(x, f"{p}.ln_2"), sd[f"{p}.mlp.c_fc.weight"], sd[f"{p}.mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        x = x + F.linear(h, sd[f"{p}.mlp.c_proj.weight"], sd[f"{p}.mlp.c_proj.bias"])
    return ln(x[:, 0], "ln_post") @ sd["proj"]


@pytest.fixture(scope="module")
def tiny():
    from partbench.metrics.alpha_clip import AlphaClip, AlphaClipSpec

    return AlphaClip(AlphaClipSpec(model="tiny"))


def test_official_checkpoint_loads_and_matches_the_reference_forward(tiny):
    from partbench.metrics.alpha_clip import AlphaClip, AlphaClipSpec, upstream_state_dict

    torch.manual_seed(1)
    official = {k: v + 0.05 * torch.randn_like(v) for k, v in _official_names(tiny.model.visual).items()}
    fresh = AlphaClip(AlphaClipSpec(model="tiny"))
    fresh.model.visual.load_state_dict(upstream_state_dict(official, "test"), strict=True)
    rgb, alpha = torch.randn(2, 3, 32, 32), torch.randn(2, 1, 32, 32)
    with torch.inference_mode():
        ours = fresh.model.encode_image(torch.cat([rgb, alpha], dim=1))
        ref = _reference_forward(official, rgb, alpha, heads=2)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_zero_alpha_kernel_is_plain_clip_and_alpha_matters(tiny):
    from PIL import Image

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    part = np.zeros((40, 48), bool)
    part[5:20, 10:30] = True
    a = tiny.image_features([image], [part])
    b = tiny.image_features([image], [~part])
    assert float(np.sum(a * b)) < 0.9999  # the alpha map changes the embedding
    saved = tiny.model.visual.conv1.alpha.weight.detach().clone()
    with torch.no_grad():
        tiny.model.visual.conv1.alpha.weight.zero_()
        plain = tiny.model.visual.conv1.rgb  # CLIP's own patch embedding alone
        x = torch.stack([tiny.preprocess(image)])
        tokens = torch.nn.functional.conv2d(x, plain.weight, stride=plain.stride)
        assert torch.allclose(tiny.model.visual.conv1(torch.cat([x, torch.ones(1, 1, 32, 32)], 1)), tokens)
        tiny.model.visual.conv1.alpha.weight.copy_(saved)


def test_official_checkpoint_problems_are_named(tmp_path, monkeypatch):
    from partbench.errors import PartbenchError
    from partbench.metrics.alpha_clip import AlphaClipSpec, upstream_state_dict
    from partbench.weights import WeightsNotFoundError

    monkeypatch.setenv("PARTBENCH_CACHE", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match=r"clip_l14_grit1m_fultune_8xe\.pth.*drive\.google\.com"):
        AlphaClipSpec().checkpoint_path()
    with pytest.raises(PartbenchError, match="LoRA"):
        upstream_state_dict({"transformer.resblocks.0.attn.in_proj.lora_A": 0}, "x.pth")
    with pytest.raises(PartbenchError, match="no conv1_alpha"):
        upstream_state_dict({"conv1.weight": 0}, "x.pth")


def test_masked_crop_by_hand():
    from partbench.tasks.edit_clip import GREY, masked_crop

    image = np.full((10, 12, 3), 200, np.uint8)
    part = np.zeros((10, 12), bool)
    part[0:2, 1:7] = True  # a 2x6 box: the 6x6 square centred on it spans image rows -2..3, columns 1..6
    crop = masked_crop(image, part)
    assert crop.shape == (6, 6, 3)
    assert (crop[2:4] == 200).all()  # image rows 0-1, all part pixels
    assert (crop[:2] == GREY).all()  # above the image
    assert (crop[4:] == GREY).all()  # image rows 2-3: not the part
