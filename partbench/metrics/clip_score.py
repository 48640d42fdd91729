"""CLIP score: how well a generated image matches its prompt.

partbench's score is `100·max(cos, 0)` per image with OpenAI CLIP ViT-L/14 through open_clip, averaged over images.
The raw cosine of every image is kept (samples.jsonl), so the other published conventions are derivable from the
same numbers and exposed as named variants, each with the model its source used:

| variant | per image | aggregate | source's model |
|---|---|---|---|
| `partbench` | 100·max(cos, 0) | mean | ViT-L/14 |
| `torchmetrics` | 100·cos | max(mean, 0) | ViT-L/14 (HF) |
| `hessel` | 2.5·max(cos, 0) | mean | ViT-B/32, text prefixed "A photo depicts " |
| `raw-cos` (T2I-CompBench) | cos | mean | ViT-B/32 |

A variant computed with another model than its source's is not comparable to that source's table; results record
which model produced the cosines.

Weights are never downloaded: a pretrained tag (`openai`) is looked up in the Hugging Face cache through the repo
open_clip names for it, or `clip_pretrained` is a local checkpoint file. `clip_model` is an open_clip model name, a
path to an open_clip model-config JSON (custom or tiny test models), or `hf:<repo id or path>` for a transformers
CLIPModel (the backend torchmetrics uses). `clip_model=tiny` is a seeded random tiny open_clip CLIP
(`TINY_CONFIG`) that needs no weights: it checks that scoring runs, and its scores mean nothing (such runs are
marked not meaningful).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.devices import select_device
from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from PIL.Image import Image

OPEN_CLIP_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
DEFAULT_MODEL = "ViT-L-14"
DEFAULT_PRETRAINED = "openai"
CONVENTION = "100*max(cos,0) per image, mean over images"
# ClipSpec.dtype -> open_clip's `precision`: its low-precision mode casts the text input itself, and partbench casts
# the images (open_clip leaves that to the caller).
DTYPES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def per_image_score(cos: np.ndarray | float) -> np.ndarray:
    """partbench's per-image CLIP score: 100·max(cos, 0)."""
    return 100.0 * np.maximum(np.asarray(cos, dtype=np.float64), 0.0)


VARIANTS = {
    "partbench": lambda cos: float(np.mean(per_image_score(cos))),
    "torchmetrics": lambda cos: float(max(100.0 * np.mean(cos), 0.0)),
    "hessel": lambda cos: float(np.mean(2.5 * np.maximum(cos, 0.0))),
    "raw-cos": lambda cos: float(np.mean(cos)),
}


TINY = "tiny"
TINY_CONFIG = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                                               "head_width": 16},
               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def tiny_clip() -> tuple[Any, Any, Any]:
    """(model, preprocess, tokenizer) of a seeded random tiny open_clip CLIP (`TINY_CONFIG`, seed 0)."""
    import open_clip
    import torch
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(0)
    model = open_clip.model.CLIP(TINY_CONFIG["embed_dim"], CLIPVisionCfg(**TINY_CONFIG["vision_cfg"]),
                                 CLIPTextCfg(**TINY_CONFIG["text_cfg"]), quick_gelu=True)
    preprocess = open_clip.transform.image_transform(TINY_CONFIG["vision_cfg"]["image_size"], is_train=False)
    return model.eval(), preprocess, open_clip.tokenizer.SimpleTokenizer()


def clip_variant(name: str, cos: Sequence[float]) -> float:
    """A published convention's aggregate of raw cosines (see the module table)."""
    from partbench.errors import UnknownNameError

    if name not in VARIANTS:
        raise UnknownNameError("CLIP score variant", name, VARIANTS)
    cos = np.asarray(cos, dtype=np.float64)
    if cos.size == 0:
        raise PartbenchError("CLIP score of no images is undefined.")
    return VARIANTS[name](cos)


@dataclass(frozen=True)
class ClipSpec:
    """Which CLIP scores the images. Changing it rescoring only; generated images stay valid."""

    model: str = DEFAULT_MODEL
    pretrained: str = DEFAULT_PRETRAINED
    device: str = "cpu"  # cpu | auto | cuda | cuda:N (`partbench.devices.select_device`)
    batch_size: int = 16
    dtype: str = "float32"  # float32 | bfloat16 | float16: the weights' and images' dtype (GPU memory, speed)

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise PartbenchError(f"clip_dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}.")

    @property
    def backend(self) -> str:
        if self.model == TINY:
            return "tiny"
        return "transformers" if self.model.startswith("hf:") else "open_clip"

    def describe(self) -> dict[str, Any]:
        return asdict(self) | {"backend": self.backend, "convention": CONVENTION}

    def weights_path(self) -> Path:
        from partbench.weights import resolve_model

        if self.backend == "transformers":
            return resolve_model(self.model[3:], what="CLIP model for clip_score", arg="clip_model")
        candidate = Path(self.pretrained).expanduser()
        if candidate.exists() or "/" in self.pretrained or candidate.suffix in (".bin", ".pt", ".safetensors"):
            return resolve_model(self.pretrained, what="CLIP checkpoint for clip_score", arg="clip_pretrained")
        return _open_clip_tag_file(self.model_name(), self.pretrained)

    def model_name(self) -> str:
        """The open_clip model name; a config JSON is registered with open_clip under its file stem."""
        if self.model.endswith(".json"):
            path = Path(self.model).expanduser()
            if not path.is_file():
                raise PartbenchError(f"clip_model={self.model}: no such open_clip model-config file.")
            return path.stem
        return self.model

    def fingerprint(self) -> str:
        """Identifies the scorer without loading it: model (config contents), weights identity, convention."""
        from partbench.weights import weights_fingerprint

        if self.backend == "tiny":  # no weights: the architecture and seed are the model
            digest = hashlib.sha256(json.dumps(TINY_CONFIG, sort_keys=True).encode() + b"\0seed 0\0"
                                    + CONVENTION.encode())
            return "tiny-" + digest.hexdigest()[:11]
        config = Path(self.model).read_bytes() if self.model.endswith(".json") else self.model.encode()
        digest = hashlib.sha256(config + b"\0" + weights_fingerprint(self.weights_path()).encode()
                                + b"\0" + CONVENTION.encode())
        if self.dtype != "float32":  # other cosines (rounding); float32 keeps the fingerprints cached rows carry
            digest.update(b"\0" + self.dtype.encode())
        return digest.hexdigest()[:16]


def _open_clip_tag_file(model: str, tag: str) -> Path:
    """The cached checkpoint of an open_clip pretrained tag (e.g. ViT-L-14/openai), never downloading it."""
    import open_clip

    from partbench.weights import WeightsNotFoundError, resolve_model

    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        raise PartbenchError(f"open_clip knows no pretrained tag {tag!r} for model {model!r} "
                             f"(known: {', '.join(open_clip.list_pretrained_tags_by_model(model)) or 'none'}).")
    repo = (cfg.get("hf_hub") or "").strip("/")
    if not repo:
        raise WeightsNotFoundError(f"CLIP {model}/{tag} has no Hugging Face copy; pass a local checkpoint with "
                                   "--method-arg clip_pretrained=/path/to/file.")
    folder = resolve_model(repo, what=f"CLIP {model}/{tag} for clip_score", arg="clip_pretrained")
    for name in OPEN_CLIP_WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise WeightsNotFoundError(f"CLIP {model}/{tag}: {folder} holds none of {', '.join(OPEN_CLIP_WEIGHT_FILES)}.")


class ClipScorer:
    """Cosine similarity between images and their prompts, one model load for many batches."""

    def __init__(self, spec: ClipSpec):
        import torch

        self.spec = spec
        self._torch = torch
        self.device = torch.device(select_device(spec.device, arg="clip_device"))
        self.dtype = getattr(torch, spec.dtype)
        if spec.backend == "transformers":
            from transformers import CLIPModel, CLIPProcessor

            path = spec.weights_path()
            self.model = CLIPModel.from_pretrained(path, local_files_only=True,
                                               torch_dtype=self.dtype).to(self.device).eval()
            self.processor = CLIPProcessor.from_pretrained(path, local_files_only=True)
            self.context_length = int(self.model.config.text_config.max_position_embeddings)
        elif spec.backend == "tiny":
            model, self.preprocess, self.tokenizer = tiny_clip()
            self.model = model.to(device=self.device, dtype=self.dtype)
            self.context_length = TINY_CONFIG["text_cfg"]["context_length"]
        else:
            self._load_open_clip()

    def _load_open_clip(self) -> None:
        import open_clip

        spec = self.spec
        if spec.model.endswith(".json"):
            open_clip.add_model_config(Path(spec.model).expanduser())
        name = spec.model_name()
        # OpenAI's checkpoints were trained with QuickGELU; open_clip sets it from the tag, so a tag resolved to a
        # file must set it too.
        tag_cfg = open_clip.get_pretrained_cfg(name, spec.pretrained) or {}
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=str(spec.weights_path()), device=self.device, precision=DTYPES[spec.dtype],
            force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)), weights_only=True)
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)
        self.context_length = int(getattr(self.tokenizer, "context_length", 77))

    def truncated(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text is longer than the text encoder's context and was cut (reported, not fatal)."""
        if hasattr(self, "processor"):
            lengths = [len(self.processor.tokenizer.encode(t)) for t in texts]  # counts start/end tokens itself
        elif hasattr(self.tokenizer, "encode"):
            lengths = [len(self.tokenizer.encode(t)) + 2 for t in texts]  # + start and end of text
        else:
            return [False] * len(texts)
        return [n > self.context_length for n in lengths]

    def cosines(self, images: Sequence[Image], texts: Sequence[str]) -> np.ndarray:
        """cos(E_image, E_text) for each (image, text) pair, in float64."""
        if len(images) != len(texts):
            raise PartbenchError(f"{len(images)} images for {len(texts)} prompts.")
        torch = self._torch
        out = []
        for start in range(0, len(images), self.spec.batch_size):
            imgs = [im.convert("RGB") for im in images[start:start + self.spec.batch_size]]
            txts = list(texts[start:start + self.spec.batch_size])
            with torch.inference_mode():
                if self.spec.backend == "transformers":
                    inputs = self.processor(text=txts, images=imgs, return_tensors="pt", padding=True,
                                            truncation=True, max_length=self.context_length).to(self.device)
                    img_f = _features(self.model.get_image_features(
                        pixel_values=inputs["pixel_values"].to(self.dtype)))
                    txt_f = _features(self.model.get_text_features(input_ids=inputs["input_ids"],
                                                                   attention_mask=inputs["attention_mask"]))
                else:
                    pixels = torch.stack([self.preprocess(im) for im in imgs]).to(self.device, self.dtype)
                    img_f = self.model.encode_image(pixels)
                    txt_f = self.model.encode_text(self.tokenizer(txts).to(self.device))
            img = img_f.double().cpu().numpy()
            txt = txt_f.double().cpu().numpy()
            img /= np.linalg.norm(img, axis=1, keepdims=True)
            txt /= np.linalg.norm(txt, axis=1, keepdims=True)
            out.append(np.sum(img * txt, axis=1))
        return np.concatenate(out) if out else np.zeros(0)


def _features(output):
    """transformers 5 may return a model output object where 4.x returned the projected tensor."""
    if hasattr(output, "pooler_output") and not hasattr(output, "shape"):
        return output.pooler_output
    return output


def spec_json(spec: ClipSpec) -> str:
    return json.dumps(spec.describe(), sort_keys=True)
