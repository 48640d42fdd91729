"""`flux1-dev` and `flux2-klein`: text-to-image baselines through diffusers pipelines.

Weights come from a local path or the Hugging Face cache (`weights=`, never downloaded during a run). `preset=tiny`
builds a tiny randomly initialised pipeline of the same classes (partbench.tiny_models.flux1_tiny / flux2_tiny) for
smoke tests on CPU; its images mean nothing (results are marked meaningful: false).

The method args are declared in `partbench.adapters.params.FLUX_T2I` (`partbench methods flux2-klein` lists them).
Image k of a prompt uses `torch.Generator(device).manual_seed(seed)` with the run's seed
schedule, so the same (prompt, seed) gives the same image whatever the batch (up to float rounding: batched
and single calls differed by at most 1 grey level on the tiny pipelines).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from partbench.adapters.params import FLUX_T2I
from partbench.api.method import method_options
from partbench.api.types import PromptItem
from partbench.devices import select_device
from partbench.errors import PartbenchError


class _FluxT2I:
    name: ClassVar[str]
    default_weights: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]
    tiny_defaults: ClassVar[dict[str, Any]] = {"steps": 2, "guidance": 1.0, "height": 64, "width": 64}

    def __init__(self, suite, data_root: Path, args: dict[str, str], seed: int = 0):
        self.options = self._options(args)
        self.pipe = None

    # -- options and identity (no model loading) ----------------------------------------------------------------------
    @classmethod
    def _options(cls, args: dict[str, str]) -> dict[str, Any]:
        given = method_options(cls.name, FLUX_T2I, args)
        opts: dict[str, Any] = dict(cls.defaults) | (cls.tiny_defaults if given["preset"] == "tiny" else {})
        opts |= {"preset": given["preset"], "weights": given["weights"] or cls.default_weights,
                 "revision": given["revision"], "dtype": given["dtype"], "device": given["device"]}
        return opts | {k: given[k] for k in ("steps", "guidance", "height", "width", "max_sequence_length",
                                             "batch_size") if given[k] is not None}

    @classmethod
    def fingerprint_for(cls, *, args: dict[str, str], **_: Any) -> str:
        opts = cls._options(args)
        if opts["preset"] == "tiny":
            config = json.dumps(cls._tiny_config_dict()).encode()
            return f"{cls.name}-tiny-v1:" + hashlib.sha256(config).hexdigest()[:12]
        from partbench.weights import resolve_model, weights_fingerprint

        path = resolve_model(opts["weights"], what=f"{cls.name} pipeline", revision=opts["revision"])
        return f"{cls.name}-v1:" + weights_fingerprint(path)

    @classmethod
    def describe_for(cls, *, args: dict[str, str], **_: Any) -> dict[str, Any]:
        opts = cls._options(args)
        return opts | {"image_size": [opts["width"], opts["height"]]}  # compared across runs (tables, user studies)

    @classmethod
    def meaningful_for(cls, args: dict[str, str]) -> bool:
        return args.get("preset", "full") != "tiny"

    def fingerprint(self) -> str:
        return self.fingerprint_for(args={k: str(v) for k, v in self.options.items()
                                          if v is not None and k in ("preset", "weights", "revision")})

    # -- loading -------------------------------------------------------------------------------------------------------
    def _device_dtype(self):
        import torch

        device = select_device(self.options["device"])
        dtype_name = self.options["dtype"] or ("bfloat16" if device.startswith("cuda") else "float32")
        if dtype_name not in ("bfloat16", "float16", "float32"):
            raise PartbenchError(f"{self.name}: dtype must be bfloat16, float16 or float32, got {dtype_name!r}.")
        return torch.device(device), getattr(torch, dtype_name)

    def _load(self):
        from partbench.weights import resolve_model

        device, dtype = self._device_dtype()
        if self.options["preset"] == "tiny":
            pipe = self._tiny_pipeline()
        else:
            path = resolve_model(self.options["weights"], what=f"{self.name} pipeline",
                                 revision=self.options["revision"])
            pipe = self._pipeline_class().from_pretrained(path, torch_dtype=dtype, local_files_only=True)
        pipe = pipe.to(device=device, dtype=dtype) if self.options["preset"] == "tiny" else pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        self.device = device
        return pipe

    def _extra_call_kwargs(self) -> dict[str, Any]:
        return {}

    def generate(self, prompts: Sequence[PromptItem], seeds: Sequence[int]) -> list:
        import torch

        if self.pipe is None:
            self.pipe = self._load()
        o, out = self.options, []
        size = max(1, o["batch_size"])
        for start in range(0, len(prompts), size):
            texts = [p.prompt for p in prompts[start:start + size]]
            generators = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds[start:start + size]]
            kwargs = {"prompt": texts, "generator": generators, "num_inference_steps": o["steps"],
                      "guidance_scale": o["guidance"], "height": o["height"], "width": o["width"], "output_type": "pil"}
            if o.get("max_sequence_length"):
                kwargs["max_sequence_length"] = o["max_sequence_length"]
            kwargs |= self._extra_call_kwargs()
            with torch.inference_mode():
                out.extend(self.pipe(**kwargs).images)
        return out


class Flux1Dev(_FluxT2I):
    name = "flux1-dev"
    default_weights = "black-forest-labs/FLUX.1-dev"
    defaults = {"steps": 28, "guidance": 3.5, "height": 1024, "width": 1024, "max_sequence_length": 512}

    @classmethod
    def _tiny_config_dict(cls) -> dict[str, Any]:
        from partbench.tiny_models.flux1_tiny import TinyFlux1Config

        return TinyFlux1Config().to_dict()

    @staticmethod
    def _pipeline_class():
        from diffusers import FluxPipeline

        return FluxPipeline

    def _tiny_pipeline(self):
        from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

        from partbench.tiny_models.flux1_tiny import tiny_flux1_components

        c = tiny_flux1_components(seed=0)
        c.tokenizer.model_max_length = 77  # an in-memory tokenizer has no limit; FluxPipeline pads CLIP text to it
        self.options["max_sequence_length"] = min(self.options.get("max_sequence_length") or 512, c.max_sequence_length)
        return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=c.vae, text_encoder=c.text_encoder,
                            tokenizer=c.tokenizer, text_encoder_2=c.text_encoder_2, tokenizer_2=c.tokenizer_2,
                            transformer=c.transformer)


class Flux2Klein(_FluxT2I):
    name = "flux2-klein"
    default_weights = "black-forest-labs/FLUX.2-klein-4B"
    defaults = {"steps": 4, "guidance": 1.0, "height": 1024, "width": 1024, "max_sequence_length": 512}

    @classmethod
    def _tiny_config_dict(cls) -> dict[str, Any]:
        from partbench.tiny_models.flux2_tiny import TinyFlux2Config

        return TinyFlux2Config().to_dict()

    @staticmethod
    def _pipeline_class():
        from diffusers import Flux2KleinPipeline

        return Flux2KleinPipeline

    def _tiny_pipeline(self):
        from partbench.tiny_models.flux2_tiny import tiny_flux2_components

        c = tiny_flux2_components(seed=0)
        self.options["max_sequence_length"] = min(self.options.get("max_sequence_length") or 512, c.max_sequence_length)
        self._text_layers = tuple(c.base_layers)  # the tiny text encoder has 7 layers, not Klein's (9, 18, 27)
        return c.pipeline()

    def _extra_call_kwargs(self) -> dict[str, Any]:
        layers = getattr(self, "_text_layers", None)
        return {"text_encoder_out_layers": layers} if layers else {}


def flux1_status() -> list[str]:
    """For `partbench methods`: whether the default FLUX.1 [dev] weights are in the local HF cache."""
    from partbench.weights import cache_status

    return cache_status(Flux1Dev.default_weights, note="a GPU is advised")


def flux2_status() -> list[str]:
    from partbench.weights import cache_status

    return cache_status(Flux2Klein.default_weights, note="a GPU is advised")
