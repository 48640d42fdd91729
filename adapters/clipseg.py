"""CLIPSeg (Lüddecke & Ecker 2022) through transformers' `CLIPSegForImageSegmentation`, as OV-PARTS evaluates it.

Per sample, one prompt per allowed part class: the class name with `'s` removed (`"dog's leg"` -> `"dog leg"`, the
OV-PARTS/PartCLIPSeg convention). All (image, prompt) pairs of a batch go through the model in chunks of
`max_pairs`; each image is preprocessed once and its pixel tensor reused for every prompt. Logits are upsampled
bilinearly to the image size and the argmax is taken over the sample's allowed parts only (the oracle-object
restriction by exact object name, see docs/suites.md; sigmoid is monotonic, so restricting before or after it is the
same).

Weights come from a local path or the Hugging Face cache (`weights=`, default `CIDAS/clipseg-rd64-refined`), never
from the network. `preset=tiny` builds a small random model from a config instead (smoke tests; not meaningful).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from partbench.adapters.params import CLIPSEG
from partbench.api.method import method_options
from partbench.api.types import Vocabulary
from partbench.data.types import Sample
from partbench.devices import select_device
from partbench.errors import PartbenchError
from partbench.suites import Suite

METHOD = "clipseg"
ADAPTER_VERSION = "1"  # bump when a change here changes predictions (part of the fingerprint)
DEFAULT_WEIGHTS = "CIDAS/clipseg-rd64-refined"
TINY_IMAGE_SIZE = 64


def prompt_for(class_name: str) -> str:
    """The text CLIPSeg sees for a part class: the class name with `'s` removed (OV-PARTS `clipseg.py`)."""
    return class_name.replace("'s", "")


@dataclass(frozen=True)
class ClipSegOptions:
    weights: str = DEFAULT_WEIGHTS
    revision: str | None = None
    preset: str | None = None  # "tiny": random model from a config, for smoke tests
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "float32"  # float32 | float16 | bfloat16
    max_pairs: int = 32  # (image, prompt) pairs per forward

    @classmethod
    def from_args(cls, args: dict[str, str]) -> ClipSegOptions:
        return cls(**method_options(METHOD, CLIPSEG, args))


# -- the tiny preset ---------------------------------------------------------------------------------------------------
TINY_CONFIG = dict(
    text_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=77),
    vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=3, num_attention_heads=4,
                       image_size=TINY_IMAGE_SIZE, patch_size=16),
    projection_dim=32, extract_layers=[0, 1, 2], reduce_dim=16, decoder_num_attention_heads=2,
    decoder_intermediate_size=32, conditional_layer=0, use_complex_transposed_convolution=True,
)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs)))


def tiny_tokenizer():
    """A byte-level CLIP tokenizer with no merges, built in memory (the real BPE files would be a download)."""
    from transformers import CLIPTokenizer

    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[])


def image_processor(size: int):
    """The CLIPSeg checkpoint's preprocessing (352², bilinear, ImageNet mean/std) on the PIL backend, which needs no
    torchvision."""
    try:
        from transformers import ViTImageProcessorPil as Processor  # transformers 5
    except ImportError:  # transformers 4: ViTImageProcessor is the numpy/PIL implementation
        from transformers import ViTImageProcessor as Processor
    return Processor(do_resize=True, size={"height": size, "width": size}, resample=2, do_rescale=True,
                     rescale_factor=1 / 255, do_normalize=True, image_mean=[0.485, 0.456, 0.406],
                     image_std=[0.229, 0.224, 0.225])


def build_tiny(seed: int = 0):
    """(model, processor): a randomly initialised CLIPSeg small enough for CPU tests, deterministic for a seed."""
    import torch
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor

    tokenizer = tiny_tokenizer()
    cfg = json.loads(json.dumps(TINY_CONFIG))
    # Text pooling reads the EOS position, so the config's special ids must be the tokenizer's.
    cfg["text_config"].update(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                              bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPSegForImageSegmentation(CLIPSegConfig(**cfg)).eval()
    return model, CLIPSegProcessor(image_processor=image_processor(TINY_IMAGE_SIZE), tokenizer=tokenizer)


def _tiny_fingerprint(seed: int) -> str:
    payload = json.dumps({"config": TINY_CONFIG, "seed": seed, "adapter": ADAPTER_VERSION}, sort_keys=True)
    return f"clipseg-tiny-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


# -- the method ----------------------------------------------------------------------------------------------------
class ClipSeg:
    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        import torch

        self.options = ClipSegOptions.from_args(args)
        self.device = select_device(self.options.device)
        self.dtype = getattr(torch, self.options.dtype)
        self._fingerprint = self.fingerprint_for(suite=suite, data_root=data_root, args=args, seed=seed)
        if self.options.preset == "tiny":
            model, self.processor = build_tiny(seed)
        else:
            model, self.processor = self._load(self.options)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()

    @staticmethod
    def _load(options: ClipSegOptions):
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

        from partbench.weights import resolve_model

        path = resolve_model(options.weights, what="CLIPSeg model", revision=options.revision)
        try:
            # The PIL image backend: identical preprocessing without requiring torchvision.
            try:
                processor = CLIPSegProcessor.from_pretrained(path, backend="pil")
            except TypeError:  # transformers 4 has no backend argument
                processor = CLIPSegProcessor.from_pretrained(path)
            model = CLIPSegForImageSegmentation.from_pretrained(path)
        except (OSError, ValueError) as e:
            raise PartbenchError(f"CLIPSeg model at {path} could not be loaded ({e}). It must hold a CLIPSeg "
                                 f"config.json, weights and processor files (as {DEFAULT_WEIGHTS} does).") from None
        return model, processor

    # -- identity (no model loading) -------------------------------------------------------------------------------
    @classmethod
    def fingerprint_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> str:
        options = ClipSegOptions.from_args(args)
        if options.preset == "tiny":
            return _tiny_fingerprint(seed)
        from partbench.weights import resolve_model, weights_fingerprint

        path = resolve_model(options.weights, what="CLIPSeg model", revision=options.revision)
        return f"clipseg-v{ADAPTER_VERSION}-{weights_fingerprint(path)}"

    @classmethod
    def describe_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> dict[str, Any]:
        options = ClipSegOptions.from_args(args)
        out: dict[str, Any] = {"adapter_version": ADAPTER_VERSION, "options": asdict(options),
                               "prompt_rule": "class name with 's removed", "upsampling": "bilinear logits",
                               "vocabulary": "oracle object, exact name match" if suite.setting == "oracle-object"
                               else "all classes"}
        if options.preset == "tiny":
            out |= {"model": "tiny random CLIPSeg (preset=tiny)", "config": TINY_CONFIG, "init_seed": seed}
        else:
            from partbench.weights import resolve_model, snapshot_revision

            path = resolve_model(options.weights, what="CLIPSeg model", revision=options.revision)
            out |= {"model": options.weights, "path": str(path),
                    "revision": options.revision or snapshot_revision(path)}
        out["dtype"] = options.dtype
        return out

    @classmethod
    def meaningful_for(cls, args: dict[str, str]) -> bool:
        return args.get("preset") != "tiny"

    def fingerprint(self) -> str:
        return self._fingerprint

    # -- prediction --------------------------------------------------------------------------------------------------
    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        allowed = [np.asarray(vocabulary.allowed(s), dtype=np.int64) for s in samples]
        pixels = self._pixel_values(samples)
        pairs = [(i, int(c)) for i, ids in enumerate(allowed) for c in ids]
        logits: dict[tuple[int, int], torch.Tensor] = {}
        for start in range(0, len(pairs), self.options.max_pairs):
            chunk = pairs[start:start + self.options.max_pairs]
            text = self.processor.tokenizer([prompt_for(vocabulary.classes[c]) for _, c in chunk], padding=True,
                                            return_tensors="pt")
            with torch.inference_mode():
                out = self.model(input_ids=text["input_ids"].to(self.device),
                                 attention_mask=text["attention_mask"].to(self.device),
                                 pixel_values=pixels[[i for i, _ in chunk]]).logits
            if out.ndim == 2:  # transformers 4 squeezes a single prompt's (1, S, S) to (S, S)
                out = out[None]
            for pair, lg in zip(chunk, out.float().cpu()):
                logits[pair] = lg

        predictions = []
        for i, (s, ids) in enumerate(zip(samples, allowed)):
            h, w = s.size
            pred = np.full((h, w), vocabulary.ignore_label, dtype=np.int64)
            if ids.size:
                stack = torch.stack([logits[(i, int(c))] for c in ids])[None]
                up = F.interpolate(stack, size=(h, w), mode="bilinear", align_corners=False)[0]
                pred = ids[up.argmax(0).numpy()]
            predictions.append(pred)
        return predictions

    def _pixel_values(self, samples: Sequence[Sample]):
        """Each image preprocessed once; rows are indexed per (image, prompt) pair."""
        batch = self.processor.image_processor(images=[s.image for s in samples], return_tensors="pt")
        return batch["pixel_values"].to(device=self.device, dtype=self.dtype)


def status() -> list[str]:
    """What `partbench methods` reports missing: the default weights when they are not in the local HF cache."""
    from partbench.weights import cache_status

    return cache_status(DEFAULT_WEIGHTS)
