"""The CLIP-based part-editing scores (docs/partedit.md), their options, and when they are computed.

- `alpha_clip_fg` = 100·max(cos, 0) of Alpha-CLIP's embedding of the *edited* image with alpha = the part and the
  text embedding of the edit prompt (`prompt_changed`);
- `alpha_clip_bg` = 100·max(cos, 0) of Alpha-CLIP's embeddings of the *source* and the *edited* image, both with
  alpha = the background (image–image);
- `masked_clip_fg` = 100·max(cos, 0) of plain CLIP (open_clip ViT-L/14, OpenAI weights) on the part's square crop
  with everything outside the part grey (CLIP's mean colour, zero after normalisation), against the edit prompt: a
  lighter stand-in that needs no Alpha-CLIP checkpoint.

Options arrive through `--method-arg` and are split off before the method sees them; they change scoring only, never
the run's identity or its predictions: `alpha_clip` and `masked_clip` = `auto` (default: computed when the weights
are on this machine, else left out with the missing-weights message in results.json's `metric_notes`), `on`
(missing weights are an error), `off`, or `tiny` (random tiny models: smoke tests only); `alpha_clip_model`
(ViT-B-16, ViT-L-14, ViT-L-14-336), `alpha_clip_pretrained`, `alpha_clip_weights`, `masked_clip_model`,
`masked_clip_pretrained`, `clip_device`, `clip_batch_size`. Whether a score is on is decided when the run starts
and is part of the evaluator's configuration, so rows scored without it are scored again once the weights appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import PartbenchError
from partbench.tasks.kind_args import CLIP_MODES, PART_EDITING_ARGS

if TYPE_CHECKING:
    from partbench.data.part_edit import EditSample

OPTIONS = tuple(p.name for p in PART_EDITING_ARGS)
GREY = (122, 116, 104)  # CLIP's normalisation mean × 255: a pixel that normalises to 0
TINY_NOTE = "computed with a random tiny model (smoke test): the numbers mean nothing"
# open_clip's Hugging Face copies of OpenAI's weights (`open_clip.get_pretrained_cfg(model, "openai")["hf_hub"]`),
# so that `auto` can see that they are absent without importing open_clip and torch (seconds on every run).
OPENAI_HF = {"ViT-B-16": "timm/vit_base_patch16_clip_224.openai", "ViT-L-14": "timm/vit_large_patch14_clip_224.openai",
             "ViT-L-14-336": "timm/vit_large_patch14_clip_336.openai"}


def _mode(args: dict[str, str], key: str) -> str:
    mode = args.get(key, "auto")
    if mode not in CLIP_MODES:
        raise PartbenchError(f"{key} must be one of {', '.join(CLIP_MODES)}, got {mode!r}.")
    return mode


def _batch_size(args: dict[str, str]) -> int:
    try:
        value = int(args.get("clip_batch_size", "16"))
    except ValueError:
        value = 0
    if value < 1:
        raise PartbenchError(f"clip_batch_size must be a positive integer, got {args.get('clip_batch_size')!r}.")
    return value


def scorer_config(args: dict[str, str]) -> dict[str, Any]:
    """The evaluator's CLIP configuration from the run's `--method-arg`s: for each score its spec and fingerprint,
    or None with the reason in `notes` (auto mode and missing weights)."""
    from partbench.metrics.alpha_clip import TINY, AlphaClipSpec
    from partbench.metrics.clip_score import ClipSpec
    from partbench.weights import WeightsNotFoundError

    device, batch = args.get("clip_device", "cpu"), _batch_size(args)
    out: dict[str, Any] = {"alpha_clip": None, "masked_clip": None, "notes": {}}
    wanted = {
        "alpha_clip": (_mode(args, "alpha_clip"), lambda tiny: AlphaClipSpec(
            model=TINY if tiny else args.get("alpha_clip_model", "ViT-L-14"),
            pretrained=args.get("alpha_clip_pretrained", "openai"), weights=args.get("alpha_clip_weights", ""),
            device=device, batch_size=batch)),
        "masked_clip": (_mode(args, "masked_clip"), lambda tiny: ClipSpec(
            model=TINY if tiny else args.get("masked_clip_model", "ViT-L-14"),
            pretrained=args.get("masked_clip_pretrained", "openai"), device=device, batch_size=batch)),
    }
    for name, (mode, make) in wanted.items():
        if mode == "off":
            continue
        spec = make(mode == "tiny")
        if mode == "tiny":
            out[name] = {"spec": asdict(spec), "fingerprint": f"{name}-tiny-v1"}
            out["notes"][name] = TINY_NOTE
            continue
        try:
            _cheap_presence(spec, name)  # the Alpha-CLIP file first, and messages naming this score's options
            out[name] = {"spec": asdict(spec), "fingerprint": spec.fingerprint()}
        except (WeightsNotFoundError, ImportError) as e:
            if mode == "on":
                raise
            out["notes"][name] = f"not computed ({name}=auto): {e}"
    return out


def _cheap_presence(spec: Any, name: str) -> None:
    """Raise `WeightsNotFoundError` when files a spec needs are plainly absent, importing nothing heavy (the full
    check, `spec.fingerprint()`, imports open_clip)."""
    from partbench.weights import WeightsNotFoundError, cache_status, hf_cache_dir

    if hasattr(spec, "checkpoint_path"):  # Alpha-CLIP: its own checkpoint first
        spec.checkpoint_path()
    repo = OPENAI_HF.get(spec.model) if spec.pretrained == "openai" else None
    missing = cache_status(repo) if repo else []
    if missing:
        raise WeightsNotFoundError(f"CLIP {spec.model}/openai ({repo}) is not in the HF cache ({hf_cache_dir()}); "
                                   f"`huggingface-cli download {repo}` on a networked machine, or "
                                   f"--method-arg {name}_pretrained=PATH (an open_clip checkpoint file).")


def masked_crop(image: np.ndarray, part: np.ndarray) -> np.ndarray:
    """The part's bounding square (centred on its box, side = the box's longer side), with every pixel outside the
    part grey; beyond the image's border grey too. CLIP's centre crop then keeps the whole part."""
    ys, xs = np.nonzero(part)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = int(max(y1 - y0, x1 - x0))
    top, left = (y0 + y1) // 2 - side // 2, (x0 + x1) // 2 - side // 2
    greyed = np.where(part[..., None], image, np.asarray(GREY, np.uint8)).astype(np.uint8)
    padded = np.pad(greyed, ((side, side), (side, side), (0, 0)), mode="constant")
    padded[:side], padded[-side:], padded[:, :side], padded[:, -side:] = GREY, GREY, GREY, GREY
    return padded[top + side:top + 2 * side, left + side:left + 2 * side]


class EditClipScorer:
    """Computes the configured CLIP scores for a batch; models load on first use (a cached run loads none)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self._alpha: Any = None
        self._masked: Any = None

    @property
    def active(self) -> bool:
        return bool(self.config.get("alpha_clip") or self.config.get("masked_clip"))

    def _alpha_model(self) -> Any:
        if self._alpha is None:
            from partbench.metrics.alpha_clip import AlphaClip, AlphaClipSpec

            self._alpha = AlphaClip(AlphaClipSpec(**self.config["alpha_clip"]["spec"]))
        return self._alpha

    def _masked_cosines(self, images: list[Any], texts: list[str]) -> np.ndarray:
        from partbench.metrics.alpha_clip import TINY, AlphaClip, AlphaClipSpec
        from partbench.metrics.clip_score import ClipScorer, ClipSpec

        spec = ClipSpec(**self.config["masked_clip"]["spec"])
        if spec.model != TINY:
            self._masked = self._masked or ClipScorer(spec)
            return self._masked.cosines(images, texts)
        # tiny: the tiny random CLIP with its alpha path seeing the whole crop (a smoke test of the plumbing)
        self._masked = self._masked or AlphaClip(AlphaClipSpec(model=TINY))
        ones = [np.ones((im.height, im.width), bool) for im in images]
        return np.sum(self._masked.image_features(images, ones) * self._masked.text_features(texts), axis=1)

    def score(self, samples: Sequence[EditSample], edited: Sequence[np.ndarray]) -> list[dict[str, float]]:
        from PIL import Image

        from partbench.metrics.clip_score import per_image_score

        rows: list[dict[str, float]] = [{} for _ in samples]
        texts = [s.record.edit_prompt for s in samples]
        if self.config.get("alpha_clip"):
            model = self._alpha_model()
            out_images = [Image.fromarray(e) for e in edited]
            fg = model.image_features(out_images, [s.mask for s in samples])
            cos_fg = np.sum(fg * model.text_features(texts), axis=1)
            bg_masks = [~s.mask for s in samples]
            cos_bg = np.sum(model.image_features([Image.fromarray(s.image) for s in samples], bg_masks)
                            * model.image_features(out_images, bg_masks), axis=1)
            for row, a, b in zip(rows, cos_fg, cos_bg):
                row |= {"alpha_cos_fg": float(a), "alpha_clip_fg": float(per_image_score(a)),
                        "alpha_cos_bg": float(b), "alpha_clip_bg": float(per_image_score(b))}
        if self.config.get("masked_clip"):
            crops = [Image.fromarray(masked_crop(e, s.mask)) for s, e in zip(samples, edited)]
            for row, c in zip(rows, self._masked_cosines(crops, texts)):
                row |= {"masked_cos_fg": float(c), "masked_clip_fg": float(per_image_score(c))}
        return rows
