"""CLIP score: golden values from independent computations (torchmetrics; a hand-written preprocessing and cosine)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.generation import tiny_hf_clip, tiny_open_clip
from PIL import Image

from partbench.errors import PartbenchError
from partbench.metrics.clip_score import ClipScorer, ClipSpec, clip_variant, per_image_score

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # written out: the check must not reuse open_clip's constants
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _gradient(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.uniform(0, 255, 3)
    arr = (base + 100 * np.stack([xx / w, yy / h, (xx + yy) / (w + h)], -1)) % 256
    return Image.fromarray(arr.astype(np.uint8))


IMAGES = [_gradient(64, 48, 0), _gradient(40, 70, 1), _gradient(50, 50, 2)]
TEXTS = ["a photo of a cow, with its head stained with red", "a photo of a car, with its <b>wheel</b> made of gold",
         "a photo of a horse, with its tail painted blue"]


def test_aggregates_by_hand():
    cos = [0.3, -0.2, 0.5]
    assert per_image_score(cos).tolist() == pytest.approx([30.0, 0.0, 50.0])
    assert clip_variant("partbench", cos) == pytest.approx(80.0 / 3)        # mean of 100·max(cos, 0)
    assert clip_variant("torchmetrics", cos) == pytest.approx(20.0)         # max(100·mean cos, 0)
    assert clip_variant("hessel", cos) == pytest.approx(2.5 * 0.8 / 3)      # mean of 2.5·max(cos, 0)
    assert clip_variant("raw-cos", cos) == pytest.approx(0.2)
    assert clip_variant("torchmetrics", [-0.3, -0.1]) == 0.0
    with pytest.raises(PartbenchError, match="Did you mean 'hessel'"):
        clip_variant("hesel", cos)


@pytest.fixture(scope="module")
def open_clip_spec(tmp_path_factory):
    config, weights = tiny_open_clip(tmp_path_factory.mktemp("clip"))
    return ClipSpec(model=str(config), pretrained=str(weights), batch_size=2)


def test_open_clip_cosine_matches_hand_computation(open_clip_spec):
    """Same weights, preprocessing written out here (PIL bicubic shortest side, centre crop, OpenAI mean/std) and a
    numpy cosine: agrees with the scorer to ~1e-3 (resize kernels differ slightly between PIL and torchvision)."""
    import torch

    scorer = ClipScorer(open_clip_spec)
    got = scorer.cosines(IMAGES, TEXTS)
    size = 32  # the tiny model's input size
    expected = []
    for im, text in zip(IMAGES, TEXTS):
        w, h = im.size
        scale = size / min(w, h)
        im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
        left, top = (im.width - size) // 2, (im.height - size) // 2
        arr = np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
        arr = (arr - np.array(OPENAI_MEAN, np.float32)) / np.array(OPENAI_STD, np.float32)
        with torch.no_grad():
            img = scorer.model.encode_image(torch.from_numpy(arr).permute(2, 0, 1)[None]).numpy()[0]
            txt = scorer.model.encode_text(scorer.tokenizer([text])).numpy()[0]
        expected.append(float(img @ txt / np.linalg.norm(img) / np.linalg.norm(txt)))
    assert got == pytest.approx(expected, abs=2e-3)
    assert len(set(np.round(got, 4))) == 3  # three different pairs, three different cosines


def test_open_clip_batching_does_not_change_cosines(open_clip_spec):
    from dataclasses import replace

    one = ClipScorer(replace(open_clip_spec, batch_size=1)).cosines(IMAGES, TEXTS)
    three = ClipScorer(replace(open_clip_spec, batch_size=3)).cosines(IMAGES, TEXTS)
    np.testing.assert_allclose(one, three, atol=1e-6)


def test_transformers_backend_matches_torchmetrics(tmp_path):
    """Golden value: torchmetrics' clip_score (its own processor call, normalisation and ×100) given the same tiny
    transformers CLIP through its callable `model_name_or_path`, on uint8 tensors as it expects."""
    import torch
    from torchmetrics.functional.multimodal import clip_score
    from transformers import CLIPModel, CLIPProcessor

    folder = tiny_hf_clip(tmp_path / "hf")

    class TensorFeatures(torch.nn.Module):
        """transformers 5 returns output objects from get_*_features; torchmetrics 1.9 expects tensors."""

        def __init__(self, model):
            super().__init__()
            self.model, self.config = model, model.config

        def get_image_features(self, *args, **kwargs):
            return self.model.get_image_features(*args, **kwargs).pooler_output

        def get_text_features(self, *args, **kwargs):
            return self.model.get_text_features(*args, **kwargs).pooler_output

    def load():
        return TensorFeatures(CLIPModel.from_pretrained(folder).eval()), CLIPProcessor.from_pretrained(folder)

    cos = ClipScorer(ClipSpec(model=f"hf:{folder}")).cosines(IMAGES, TEXTS)
    assert (cos > 0).any() and (cos < 0).any(), cos  # both sides of the clamp are exercised
    tensors = [torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1) for im in IMAGES]  # uint8 CHW
    for tensor, text, c in zip(tensors, TEXTS, cos):
        reference = float(clip_score(tensor, text, model_name_or_path=load).detach())
        assert per_image_score(c) == pytest.approx(reference, abs=1e-3)
    # torchmetrics clamps the batch mean, not each image: exactly our named "torchmetrics" variant.
    batch = float(clip_score(tensors, TEXTS, model_name_or_path=load).detach())
    assert clip_variant("torchmetrics", cos) == pytest.approx(batch, abs=1e-3)


def test_long_prompts_are_counted_as_truncated(open_clip_spec):
    scorer = ClipScorer(open_clip_spec)
    assert scorer.truncated(["a short prompt", "word " * 80]) == [False, True]


def test_missing_weights_are_an_error_saying_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(PartbenchError, match="never downloads") as err:
        ClipSpec().fingerprint()
    assert "timm/vit_large_patch14_clip_224.openai" in str(err.value)
    with pytest.raises(PartbenchError, match="does not exist"):
        ClipSpec(pretrained="/no/such/file.bin").fingerprint()
