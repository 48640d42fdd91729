"""`instruct-pix2pix` and `sdxl-inpaint`: part-editing baselines through diffusers pipelines (docs/partedit.md).

- `instruct-pix2pix` (Brooks et al. 2023, `StableDiffusionInstructPix2PixPipeline`, `timbrooks/instruct-pix2pix`)
  edits the source by one instruction phrasing of the sample (`-a instruction=1|2|3|random`); it never sees the mask.
- `sdxl-inpaint` (`StableDiffusionXLInpaintPipeline`, `diffusers/stable-diffusion-xl-1.0-inpainting-0.1`) regenerates
  the ground-truth part mask with the edit prompt: a mask-given upper baseline (registered with `uses_gt_mask`, so
  tables put it in a block of its own), as PartEdit's SDXL-inpainting row.

Weights come from a local path or the Hugging Face cache (`weights=`), never downloaded during a run. `preset=tiny`
builds random tiny pipelines of the same classes (partbench.tiny_models.sd_edit_tiny) for CPU smoke tests; their
edits mean nothing (meaningful: false).

The model sees the source resized (Lanczos) so that its long side is `resolution` with both sides multiples of 8, and
the edit is resized back to the source's size (the task kind never resizes). Each sample's noise comes from
`torch.Generator(device).manual_seed(image_seed(run seed, sample id, 0))`, so an edit depends on neither the batch
nor the other samples. The NSFW safety checker and the invisible watermark are off: both change pixels (a black
image, a pattern) that the background metrics would score as the method's edit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from partbench.api.method import Param, check_method_args
from partbench.data.part_edit import EditSample
from partbench.devices import select_device
from partbench.errors import PartbenchError
from partbench.tasks.generation import image_seed

from .edit_diffusers_options import IP2P_PARAMS, SDXL_INPAINT_PARAMS

TINY_DEFAULTS = {"steps": 2, "resolution": 32}


def working_size(height: int, width: int, resolution: int, multiple: int = 8) -> tuple[int, int]:
    """(H, W) the model runs at: the long side scaled to `resolution` (0: unscaled), each side rounded to the
    nearest multiple of `multiple` and at least one multiple."""
    scale = 1.0 if resolution == 0 else resolution / max(height, width)
    h, w = (max(multiple, round(side * scale / multiple) * multiple) for side in (height, width))
    return h, w


def pick_instruction(sample: EditSample, choice: str, seed: int) -> str:
    """The instruction phrasing `choice` (1, 2, 3, or random: drawn per sample from the run's seed) of a sample."""
    phrasings = sample.record.instructions
    if not phrasings:
        raise PartbenchError(f"instruct-pix2pix: sample {sample.id} has no instruction phrasing "
                             "(instructp2p_edit1..3); this method needs one.")
    if choice == "random":
        # Its own hash, not the noise seed's: which phrasing a sample gets is independent of its noise.
        digest = hashlib.sha256(f"{seed}/{sample.id}/instruction".encode()).digest()
        return phrasings[int.from_bytes(digest[:4], "big") % len(phrasings)]
    k = int(choice)
    if k > len(phrasings):
        raise PartbenchError(f"instruct-pix2pix: sample {sample.id} has {len(phrasings)} instruction phrasing(s), "
                             f"not {k}; choose -a instruction=1..{len(phrasings)} or random.")
    return phrasings[k - 1]


def _quiet_fp32_cast_warning() -> None:
    """SDXL's pipelines cast their VAE to float32 and back on every call, and diffusers warns about each cast (once
    per image, hundreds of lines per run); that warning, and only it, is dropped from diffusers' model logger."""
    import logging

    logger = logging.getLogger("diffusers.models.modeling_utils")
    if not any(isinstance(f, _Fp32CastFilter) for f in logger.filters):
        logger.addFilter(_Fp32CastFilter())


class _Fp32CastFilter:
    def filter(self, record) -> bool:
        return not str(record.msg).startswith("There are modules in")


class _DiffusersEditor:
    name: ClassVar[str]
    version: ClassVar[str] = "v1"  # bump when the same weights and args give other edits
    default_weights: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    defaults: ClassVar[dict[str, Any]]
    uses_gt_mask: ClassVar[bool] = False

    def __init__(self, suite, data_root: Path, args: dict[str, str], seed: int = 0):
        self.options = self._options(args)
        self.args = dict(args)
        self.seed = seed
        self.pipe = None

    # -- options and identity (no model loading) ----------------------------------------------------------------------
    @classmethod
    def _options(cls, args: dict[str, str]) -> dict[str, Any]:
        given = check_method_args(cls.name, cls.params, args)
        opts = {p.name: p.default for p in cls.params} | cls.defaults
        if given.get("preset", "full") == "tiny":
            opts |= TINY_DEFAULTS
        opts |= given
        opts["weights"] = opts["weights"] or cls.default_weights
        return opts

    @classmethod
    def fingerprint_for(cls, *, args: dict[str, str], **_: Any) -> str:
        opts = cls._options(args)
        if opts["preset"] == "tiny":
            from partbench.tiny_models.sd_edit_tiny import TinySDEditConfig

            config = json.dumps(TinySDEditConfig().to_dict(), sort_keys=True).encode()
            return f"{cls.name}-tiny-{cls.version}:" + hashlib.sha256(config).hexdigest()[:12]
        from partbench.weights import resolve_model, weights_fingerprint

        path = resolve_model(opts["weights"], what=f"{cls.name} pipeline", revision=opts["revision"])
        return f"{cls.name}-{cls.version}:" + weights_fingerprint(path)

    @classmethod
    def describe_for(cls, *, args: dict[str, str], **_: Any) -> dict[str, Any]:
        opts = cls._options(args)
        return {k: v for k, v in opts.items() if v is not None} | {
            "uses_gt_mask": cls.uses_gt_mask,
            "model_size": f"long side {opts['resolution'] or 'native'}, multiples of 8; edit resized back (Lanczos)"}

    @classmethod
    def meaningful_for(cls, args: dict[str, str]) -> bool:
        return args.get("preset", "full") != "tiny"

    def fingerprint(self) -> str:
        return self.fingerprint_for(args=self.args)

    # -- loading -------------------------------------------------------------------------------------------------------
    def _load(self):
        import torch

        device = select_device(self.options["device"])
        dtype = getattr(torch, self.options["dtype"] or ("bfloat16" if device.startswith("cuda") else "float32"))
        if self.options["preset"] == "tiny":
            pipe = self._tiny_pipeline().to(device)  # built in float32: cast only when asked for another dtype
            if dtype != torch.float32:
                pipe = pipe.to(dtype=dtype)
        else:
            from partbench.weights import resolve_model

            path = resolve_model(self.options["weights"], what=f"{self.name} pipeline",
                                 revision=self.options["revision"])
            pipe = self._pipeline_class().from_pretrained(path, torch_dtype=dtype, local_files_only=True,
                                                          **self._load_kwargs()).to(device)
        pipe.set_progress_bar_config(disable=True)
        _quiet_fp32_cast_warning()
        self.device = device
        return pipe

    def _load_kwargs(self) -> dict[str, Any]:
        return {}

    # -- editing -------------------------------------------------------------------------------------------------------
    def edit(self, samples: Sequence[EditSample]) -> list[np.ndarray]:
        import torch
        from PIL import Image

        if self.pipe is None:
            self.pipe = self._load()
        out = []
        for s in samples:
            h, w = s.size
            size = working_size(h, w, self.options["resolution"])
            source = Image.fromarray(s.image)
            if size != (h, w):
                source = source.resize((size[1], size[0]), Image.LANCZOS)
            generator = torch.Generator(device=self.device).manual_seed(image_seed(self.seed, s.id, 0))
            with torch.inference_mode():
                edited = self._call(s, source, size, generator).convert("RGB")
            if edited.size != (w, h):
                edited = edited.resize((w, h), Image.LANCZOS)
            out.append(self._finish(s, np.asarray(edited)))
        return out

    def _finish(self, sample: EditSample, edited: np.ndarray) -> np.ndarray:
        return edited


class InstructPix2Pix(_DiffusersEditor):
    """InstructPix2Pix on one instruction phrasing per sample; never reads the mask."""

    name = "instruct-pix2pix"
    default_weights = "timbrooks/instruct-pix2pix"
    params = IP2P_PARAMS
    # The pipeline's defaults; 512: the resolution of Stable Diffusion 1.5, which InstructPix2Pix is built on.
    defaults = {"steps": 100, "guidance": 7.5, "image_guidance": 1.5, "resolution": 512}

    @staticmethod
    def _pipeline_class():
        from diffusers import StableDiffusionInstructPix2PixPipeline

        return StableDiffusionInstructPix2PixPipeline

    def _load_kwargs(self) -> dict[str, Any]:
        return {"safety_checker": None, "requires_safety_checker": False}

    def _tiny_pipeline(self):
        from partbench.tiny_models.sd_edit_tiny import tiny_instruct_pix2pix

        return tiny_instruct_pix2pix(seed=0)

    def _call(self, sample: EditSample, source, size: tuple[int, int], generator):
        o = self.options
        return self.pipe(prompt=pick_instruction(sample, o["instruction"], self.seed), image=source,
                         num_inference_steps=o["steps"], guidance_scale=o["guidance"],
                         image_guidance_scale=o["image_guidance"], generator=generator, output_type="pil").images[0]


class SDXLInpaint(_DiffusersEditor):
    """SDXL inpainting of the ground-truth part mask with the edit prompt (mask-given)."""

    name = "sdxl-inpaint"
    default_weights = "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"
    params = SDXL_INPAINT_PARAMS
    # strength 0.99, not 1.0: the checkpoint's model card advises below 1 (at 1 it ignores the masked content).
    defaults = {"steps": 50, "guidance": 7.5, "strength": 0.99, "resolution": 1024}
    uses_gt_mask = True

    @staticmethod
    def _pipeline_class():
        from diffusers import StableDiffusionXLInpaintPipeline

        return StableDiffusionXLInpaintPipeline

    def _load_kwargs(self) -> dict[str, Any]:
        return {"add_watermarker": False}

    def _tiny_pipeline(self):
        from partbench.tiny_models.sd_edit_tiny import tiny_sdxl_inpaint

        return tiny_sdxl_inpaint(seed=0)

    def _call(self, sample: EditSample, source, size: tuple[int, int], generator):
        from PIL import Image

        o = self.options
        mask = Image.fromarray(sample.mask.astype(np.uint8) * 255)
        if mask.size != source.size:
            mask = mask.resize(source.size, Image.NEAREST)  # a mask stays binary
        return self.pipe(prompt=sample.record.edit_prompt, image=source, mask_image=mask, height=size[0],
                         width=size[1], strength=o["strength"], num_inference_steps=o["steps"],
                         guidance_scale=o["guidance"], generator=generator, output_type="pil").images[0]

    def _finish(self, sample: EditSample, edited: np.ndarray) -> np.ndarray:
        if not self.options["keep_background"]:
            return edited
        out = sample.image.copy()
        out[sample.mask] = edited[sample.mask]
        return out


def ip2p_status() -> list[str]:
    """For `partbench methods`: whether the default weights are in the local HF cache."""
    from partbench.weights import cache_status

    return cache_status(InstructPix2Pix.default_weights, note="a GPU is advised")


def sdxl_inpaint_status() -> list[str]:
    from partbench.weights import cache_status

    return cache_status(SDXLInpaint.default_weights, note="a GPU is advised")
