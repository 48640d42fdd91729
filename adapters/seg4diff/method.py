"""Seg4Diff (Kim et al., NeurIPS 2025) as a partbench segmentation method: zero-shot part maps from the image-to-text
attention of one MM-DiT block, the "grounding expert" (SD3 / SD3.5-medium: block 9).

Per sample (upstream's `Seg4DiffOVSS` inference, docs/seg4diff.md): the allowed part names (or, with
`prompt=gt-present`, those in the ground truth, as upstream's GT_ONLY_PROMPT) joined by spaces are the prompt; the
image is resized to 1024², VAE-encoded and noised once at timesteps[-8] of the 28-step schedule (seeded); one forward
without guidance captures the expert block's joint attention (`capture.py`); each part's map is the mean of its
name's text columns (`prompt.py`), upsampled bilinearly to the image, and the argmax over the parts is the
prediction. The model-specific steps are in `sd3.py` and `flux.py`.

`-a layers=all` (or `0-5,9`) is a layer sweep: `partbench run` writes one run per block, `seg4diff@layer=K`, sharing
one forward per sample (`sweep.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from partbench.api.method import Sweep
from partbench.api.types import Vocabulary
from partbench.data.types import Sample
from partbench.devices import select_device
from partbench.errors import PartbenchError
from partbench.suites import Suite

from .options import (
    DEFAULT_WEIGHTS,
    GATED,
    METHOD,
    Seg4DiffOptions,
    block_count,
    check_layer,
    parse_layers,
    weights_path,
)
from .options import tiny_config as _tiny_config
from .prompt import class_maps, phrase, plan_prompts
from .sweep import active_session, sweep_session

ADAPTER_VERSION = "2"  # bump when a change here changes predictions (part of the fingerprint)


def _checked(args: dict[str, str]) -> tuple[Seg4DiffOptions, Path | None]:
    options = Seg4DiffOptions.from_args(args)
    if options.layers is not None:
        raise PartbenchError(f"Method {METHOD!r}: layers={options.layers} asks for a layer sweep, one run per layer: "
                             "start it with `partbench run` (it writes seg4diff@layer=K runs), or name one layer "
                             "with -a layer=K.")
    path = weights_path(options)
    check_layer(options.layer, block_count(options, path), options)
    return options, path


class Seg4Diff:
    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        self.options, self.path = _checked(args)
        self.args, self.seed = dict(args), seed
        self._fingerprint = self.fingerprint_for(suite=suite, data_root=data_root, args=args, seed=seed)
        self._backbone: Any = None  # loaded on the first forward (a sweep sibling may never need one)

    # -- identity ----------------------------------------------------------------------------------------------------
    @classmethod
    def fingerprint_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> str:
        options, path = _checked(args)
        payload: dict[str, Any] = {"adapter": ADAPTER_VERSION, "options": options.identity()}
        if path is None:
            payload |= {"tiny": _tiny_config(options.model), "init_seed": seed}
        else:
            from partbench.weights import weights_fingerprint

            payload["weights"] = weights_fingerprint(path)
        if options.lora:
            from partbench.weights import weights_fingerprint

            payload["lora"] = weights_fingerprint(Path(options.lora).expanduser())
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
        return f"seg4diff-v{ADAPTER_VERSION}-{options.model}{'-tiny' if path is None else ''}-{digest}"

    @classmethod
    def describe_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> dict[str, Any]:
        from .recipe import describe

        options, path = _checked(args)
        return describe(options, path, seed) | {"adapter_version": ADAPTER_VERSION}

    @classmethod
    def meaningful_for(cls, args: dict[str, str]) -> bool:
        return args.get("preset") != "tiny"

    @classmethod
    def sweep_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> Sweep | None:
        """`layers=...`: one run per block, `seg4diff@layer=K`, sharing the model and one forward per sample."""
        if "layers" not in args:
            return None
        if "layer" in args:
            raise PartbenchError(f"Method {METHOD!r}: pass layer=K (one block) or layers=... (a sweep), not both.")
        shared = {k: v for k, v in args.items() if k != "layers"}
        options, path = _checked(shared)
        layers = parse_layers(args["layers"], block_count(options, path), options)
        return Sweep(variants=tuple(f"layer={k}" for k in layers), args=shared,
                     context=lambda: sweep_session(shared, layers))

    def fingerprint(self) -> str:
        return self._fingerprint

    # -- prediction --------------------------------------------------------------------------------------------------
    def backbone(self) -> Any:
        """The model on the run's device: the open sweep's (loaded once for all its runs) or this run's own."""
        session = active_session(self.args)
        if session is not None and session.backbone is not None:
            return session.backbone
        if self._backbone is None:
            import torch

            from .flux import FluxBackbone
            from .sd3 import SD3Backbone

            kind = FluxBackbone if self.options.model == "flux" else SD3Backbone
            self._backbone = kind(self.options, self.seed, select_device(self.options.device),
                                  getattr(torch, self.options.dtype))
            if session is not None:
                session.backbone = self._backbone
        return self._backbone

    def names(self, sample: Sample, vocabulary: Vocabulary) -> tuple[np.ndarray, list[str]]:
        """The class ids the prompt names for `sample`, and their words."""
        ids = np.asarray(vocabulary.allowed(sample), dtype=np.int64)
        if self.options.prompt == "gt-present" and ids.size:
            present = np.isin(ids, np.unique(sample.part_label_map))
            ids = ids[present] if present.any() else ids  # an unscorable sample keeps every allowed part
        return ids, [phrase(vocabulary.classes[i], self.options.part_text) for i in ids]

    def layer_maps(self, image: np.ndarray, names: list[str], layers: list[int]) -> tuple[dict[int, Any], tuple]:
        """layer -> (C, h, w) float32 class maps on the image token grid, from one forward."""
        backbone = self.backbone()
        plan = plan_prompts(names, backbone.tokenizers, backbone.max_length, self.options.overflow)
        i2t, grid = backbone.run(image, plan.prompts, plan.n_cols, layers)
        return {k: class_maps(v, plan).reshape(len(names), *grid).cpu() for k, v in i2t.items()}, grid

    def maps(self, sample: Sample, ids: np.ndarray, names: list[str]) -> np.ndarray:
        """(C, h, w) maps of this run's layer: left by a sweep sibling, else from a forward (which, in a sweep,
        leaves the maps of the layers still to run for their runs)."""
        layer = self.options.layer
        session = active_session(self.args)
        if session is not None:
            stored = session.take(sample.id, layer, ids)
            if stored is not None:
                return stored
        # The sweep runs its layers in ascending order: only the runs of later layers are still to come.
        later = [k for k in session.layers if k > layer] if session is not None else []
        maps, _ = self.layer_maps(sample.image, names, [layer, *later])
        for k in later:
            session.put(sample.id, k, ids, maps[k].numpy())
        return maps[layer].numpy()

    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        out = []
        for sample in samples:
            height, width = sample.size
            ids, names = self.names(sample, vocabulary)
            if not ids.size:
                out.append(np.full((height, width), vocabulary.ignore_label, dtype=np.int64))
                continue
            maps = torch.from_numpy(self.maps(sample, ids, names))
            up = F.interpolate(maps[None], size=(height, width), mode="bilinear", align_corners=False)[0]
            out.append(ids[torch.argmax(up, 0).numpy()])
        return out

    def close(self) -> None:
        self._backbone = None  # a sweep's model stays with the sweep until it ends


def status() -> list[str]:
    from partbench.weights import cache_status

    return cache_status(DEFAULT_WEIGHTS["sd3"], note=f"it is {GATED}; model=sd35 needs {DEFAULT_WEIGHTS['sd35']}, "
                                                     f"model=flux {DEFAULT_WEIGHTS['flux']} (both gated too); a GPU "
                                                     "is advised")
