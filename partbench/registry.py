"""The method registry: names -> lazily imported factories, with what each method needs to run.

Registering a method costs nothing: the entry holds a "module:attr" string, imported only when the method is
built. So `partbench methods` can list everything, and say what is missing, without importing torch. Third-party
methods register through the `partbench.methods` entry-point group or modules named in `$PARTBENCH_PLUGINS`
(comma-separated), which call `register_method` at import.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from partbench.errors import PartbenchError, UnknownNameError


@dataclass(frozen=True)
class MethodInfo:
    """What `partbench methods` shows and `partbench run` builds."""

    name: str
    factory: str  # "module:callable"; called as factory(suite=..., data_root=..., args=..., seed=...)
    kinds: tuple[str, ...] = ("segmentation",)  # "segmentation" and/or "generation"
    summary: str = ""
    gpu: str = "no"  # "no" | "optional" | "required"
    extras: tuple[str, ...] = ()  # importable modules the method needs (checked without importing them)
    weights: str = ""  # human description of the weights it needs, if any
    status: str | None = None  # optional "module:callable" -> list of missing items, for weights checks
    meaningful: bool = True  # False for pipeline checks (oracle) whose numbers are not results

    def missing_modules(self) -> list[str]:
        return [f"python module {m!r} (pip install {m})" for m in self.extras if importlib.util.find_spec(m) is None]

    def missing(self) -> list[str]:
        """What prevents running here: absent Python modules, a required GPU, weights the status hook reports."""
        out = self.missing_modules()
        if self.gpu == "required" and not _cuda_visible():
            out.append("a CUDA GPU")
        if self.status and not out:  # the status hook may import what the missing modules provide
            try:
                out.extend(_resolve(self.status)())
            except (ImportError, AttributeError) as e:  # a broken plugin must not break the listing
                out.append(f"a working status check {self.status} ({e})")
        return out

    def describe(self, **kwargs: Any) -> dict[str, Any]:
        """What the run's config should record about the method (model id, revision, dtype, options...): the
        factory's `describe_for(**kwargs)` if it has one. Must not load a model."""
        factory = _resolve(self.factory)
        return dict(factory.describe_for(**kwargs)) if hasattr(factory, "describe_for") else {}

    def is_meaningful(self, args: dict[str, str]) -> bool:
        """False for pipeline checks and smoke runs (e.g. `preset=tiny`): the factory's `meaningful_for(args)`
        refines the static flag."""
        factory = _resolve(self.factory)
        return self.meaningful and (factory.meaningful_for(args) if hasattr(factory, "meaningful_for") else True)

    def needs_images(self) -> bool:
        """Whether predict() reads `sample.image` (then the loader threads decode it ahead of inference)."""
        return bool(getattr(_resolve(self.factory), "needs_images", True))

    def fingerprint(self, **kwargs: Any) -> tuple[Any, str]:
        """(method or None, fingerprint). Uses the factory's `fingerprint_for(**kwargs)` when it has one, so that
        checking the prediction cache loads no model; otherwise builds the method and asks it."""
        factory = _resolve(self.factory)
        if hasattr(factory, "fingerprint_for"):
            return None, factory.fingerprint_for(**kwargs)
        method = self.build(**kwargs)
        return method, method.fingerprint()

    def build(self, **kwargs: Any):
        # Only missing Python modules block a build. Weights a status hook reports are the *default* ones, and a run
        # may name others (weights=PATH, preset=tiny); the factory raises WeightsNotFoundError for what it lacks.
        missing = self.missing_modules()
        if missing:
            raise PartbenchError(f"Method {self.name!r} cannot run here; missing: {'; '.join(missing)}.")
        return _resolve(self.factory)(**kwargs)


_METHODS: dict[str, MethodInfo] = {}
_plugins_loaded = False


def register_method(info: MethodInfo) -> MethodInfo:
    if info.name in _METHODS and _METHODS[info.name] != info:
        raise PartbenchError(f"Method name {info.name!r} is registered twice ({_METHODS[info.name].factory}, {info.factory}).")
    _METHODS[info.name] = info
    return info


def get_method(name: str) -> MethodInfo:
    _load_plugins()
    if name not in _METHODS:
        raise UnknownNameError("method", name, _METHODS)
    return _METHODS[name]


def all_methods() -> list[MethodInfo]:
    _load_plugins()
    return [_METHODS[k] for k in sorted(_METHODS)]


def _resolve(target: str) -> Callable[..., Any]:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def _cuda_visible() -> bool:
    # Decided without importing torch: a driver node or an explicit device list is enough for a listing.
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="partbench.methods"):
        ep.load()
    for module in filter(None, (m.strip() for m in os.environ.get("PARTBENCH_PLUGINS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise PartbenchError(f"$PARTBENCH_PLUGINS names {module!r}, which cannot be imported ({e}).") from None


# -- built-in methods ------------------------------------------------------------------------------------------------
# Weight-free baselines (adapters/): a pipeline check, chance level, and the spatial prior every method must beat.
register_method(MethodInfo(
    name="oracle", factory="partbench.adapters.trivial:Oracle",
    summary="Returns the ground truth. Must score 100: a check of the data and scoring pipeline, not a result.",
    meaningful=False,
))
register_method(MethodInfo(
    name="random", factory="partbench.adapters.trivial:RandomParts",
    summary="Uniformly random part of the oracle object at every object pixel (seeded per sample): chance level.",
))
register_method(MethodInfo(
    name="spatial-prior", factory="partbench.adapters.spatial_prior:SpatialPrior",
    summary="Most frequent part at each object-normalised position, estimated per object class on the train split.",
))

# -- methods added by later issues register below, one delimited block per module ------------------------------------

# -- issue 5: model adapters (adapters/clipseg.py, adapters/conceptattention/, adapters/external/) -- begin ----------
register_method(MethodInfo(
    name="clipseg", factory="partbench.adapters.clipseg:ClipSeg",
    summary="CLIPSeg (transformers), one prompt per allowed part (class name without 's), OV-PARTS style.",
    gpu="optional", extras=("torch", "transformers"), weights="CIDAS/clipseg-rd64-refined (HF cache or weights=PATH)",
    status="partbench.adapters.clipseg:status",
))
register_method(MethodInfo(
    name="conceptattention", factory="partbench.adapters.conceptattention:ConceptAttention",
    summary="ConceptAttention (Helbling et al. 2025) on diffusers' FLUX.1 transformer (model=flux2: FLUX.2): "
            "concept-token output-space attention maps from one forward at a fixed noise level.",
    gpu="optional", extras=("torch", "transformers", "diffusers"),
    weights="black-forest-labs/FLUX.1-schnell, or with model=flux2 black-forest-labs/FLUX.2-klein-4B "
            "(HF cache or weights=PATH)",
    status="partbench.adapters.conceptattention:status",
))
register_method(MethodInfo(
    name="partcatseg", factory="partbench.adapters.external:PartCATSeg",
    summary="PartCATSeg (CVPR 2025), from its saved predictions (predictions=PATH) or run in your own PartCATSeg "
            "environment (repo=, python=, checkpoint=). Inference uses the oracle object class.",
    weights="a PartCATSeg checkout + environment + checkpoint, or its saved predictions",
    status="partbench.adapters.external:partcatseg_status",
))
register_method(MethodInfo(
    name="langhops", factory="partbench.adapters.external:LangHOPS",
    summary="LangHOPS (NeurIPS 2025), from its sem_seg_predictions.json / PNGs (predictions=PATH) or run in your "
            "own LangHOPS environment (repo=, python=, checkpoint=). Inference uses the oracle object class.",
    weights="a LangHOPS checkout + environment + checkpoint, or its saved predictions",
    status="partbench.adapters.external:langhops_status",
))
# -- issue 5 -- end --------------------------------------------------------------------------------------------------

# -- issue 6: generation methods (adapters/image_folder.py, adapters/flux_t2i.py) -- begin ------------------------
register_method(MethodInfo(
    name="image-folder", factory="partbench.adapters.image_folder:ImageFolder", kinds=("generation",),
    summary="Images generated elsewhere (closed models, other codebases): path=DIR holding <prompt id>/<k>.png, "
            "as `partbench suites SUITE --prompts` lists them.",
))
register_method(MethodInfo(
    name="flux1-dev", factory="partbench.adapters.flux_t2i:Flux1Dev", kinds=("generation",),
    summary="FLUX.1 [dev] text-to-image (diffusers FluxPipeline); preset=tiny: random tiny pipeline (smoke test).",
    gpu="optional", extras=("torch", "diffusers", "transformers"),
    weights="black-forest-labs/FLUX.1-dev (HF cache or weights=PATH)",
    status="partbench.adapters.flux_t2i:flux1_status",
))
register_method(MethodInfo(
    name="flux2-klein", factory="partbench.adapters.flux_t2i:Flux2Klein", kinds=("generation",),
    summary="FLUX.2 [klein] text-to-image (diffusers Flux2KleinPipeline); preset=tiny: random tiny pipeline.",
    gpu="optional", extras=("torch", "diffusers", "transformers"),
    weights="black-forest-labs/FLUX.2-klein-4B (HF cache or weights=PATH)",
    status="partbench.adapters.flux_t2i:flux2_status",
))
# -- issue 6 -- end ------------------------------------------------------------------------------------------------
# -- issue 4 (PartConcepts) -- begin ----------------------------------------------------------------------------------
register_method(MethodInfo(
    name="partconcepts", factory="partbench.methods.partconcepts.method:PartConcepts",
    kinds=("segmentation", "generation"),
    summary="PartConcepts: part phrases as single tokens whose mmDiT attention maps decode into part masks "
            "(one forward pass); part-level generation. Needs --checkpoint (partbench train partconcepts).",
    gpu="optional", extras=("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors"),
    weights="a PartConcepts checkpoint (--checkpoint DIR); preset klein also needs FLUX.2 Klein in the HF cache",
))
# -- issue 4 (PartConcepts) -- end ------------------------------------------------------------------------------------
