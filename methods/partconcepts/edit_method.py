"""`partconcepts-edit` as a partbench part-editing method: PartConcepts localises the part on the source (never
reading the sample's ground-truth mask), FLUX.2 Klein regenerates it from the edit prompt with the rest blended back
from the source (`edit.py`; recipe in docs/partconcepts.md, "Part editing").

Arguments are declared in `PARAMS` (checked before a run writes anything); the checkpoint is PartConcepts' own
(`--checkpoint DIR`), loaded as the `partconcepts` method loads it, with the base model it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from partbench.api.method import method_options
from partbench.errors import PartbenchError
from partbench.methods.partconcepts import checkpoint as ckpt
from partbench.methods.partconcepts.edit_options import NAME, PARAMS

# Bumped whenever an edit changes for the same checkpoint, sample, arguments and seed (defaults included), so that
# cached edits of an older recipe are not reused.
EDIT_VERSION = 1


def _options(args: dict[str, str]) -> dict[str, Any]:
    """Every argument converted, defaults filled in; the checkpoint is required and must exist."""
    opts = method_options(NAME, PARAMS, args)
    if opts["threshold"] != "otsu":
        try:
            value = float(opts["threshold"])
        except ValueError:
            value = -1.0
        if not 0.0 <= value < 1.0:
            raise PartbenchError(f"Method {NAME!r}: --method-arg threshold must be a number in [0, 1) or otsu, got "
                                 f"{opts['threshold']!r}.")
        opts["threshold"] = value
    if not opts["checkpoint"]:
        raise ckpt.WeightsNotFoundError(f"Method {NAME!r} needs a trained PartConcepts checkpoint: pass "
                                        f"--checkpoint DIR. {ckpt.HOW_TO_GET}")
    ckpt.checkpoint_dir(opts["checkpoint"])  # a missing checkpoint is refused before anything runs
    return opts


def edit_prompt(record) -> str:
    """The edit prompt with the part marked as a PartConcept, anchored on the record's `edit` phrase where it names
    the part ("cow with a blue [head]"); a prompt where the part cannot be placed unambiguously is used unmarked
    (plain Klein conditioning)."""
    from partbench.methods.partconcepts.prompts import mark_part

    for instruction in (record.edit or None, None):
        try:
            return mark_part(record.edit_prompt, record.part, instruction, where=f"sample {record.sample_id}")
        except PartbenchError:
            continue
    return record.edit_prompt


def locate_prompt(record) -> str:
    """The segmentation prompt naming the one part to find: `a photo of a cow with [head]`."""
    from partbench.methods.partconcepts.prompts import part_prompt

    return part_prompt(record.class_name or record.subject or "object", [record.part])


class PartConceptsEdit:
    """Localise with PartConcepts, edit with blended FLUX.2 Klein sampling (see the module docstring)."""

    def __init__(self, suite=None, data_root: Path | None = None, args: dict[str, str] | None = None, seed: int = 0):
        from partbench.devices import select_device

        self.opts = _options(args or {})
        self.seed = seed
        self._fingerprint = self.fingerprint_for(args=args or {})
        self.device = select_device(self.opts["device"])
        self.model = ckpt.load_model(self.opts["checkpoint"], device=self.device)
        self.settings = self.settings_for(args or {})

    @staticmethod
    def settings_for(args: dict[str, str]):
        """The `EditSettings` that `args` (and the checkpoint's config for what they leave out) ask for."""
        opts = _options(args)
        return PartConceptsEdit._settings(opts, ckpt.read_config(opts["checkpoint"]))

    @staticmethod
    def _settings(opts: dict[str, Any], saved: dict[str, Any]):
        from partbench.methods.partconcepts.edit import EditSettings
        from partbench.methods.partconcepts.method import SAMPLERS, sampler_of

        model = saved.get("model", {})
        sampler, _ = sampler_of(saved, opts["sampler"], str(opts["checkpoint"]))
        return EditSettings(
            resolution=opts["resolution"] or int(model.get("resolution") or 512),
            noise=opts["noise"] if opts["noise"] is not None else float(model.get("noise", 0.5)),
            steps=opts["steps"] or SAMPLERS[sampler]["steps"],
            guidance=opts["guidance"] if opts["guidance"] is not None else SAMPLERS[sampler]["guidance"],
            distilled=sampler == "distilled", map=opts["map"], threshold=opts["threshold"], dilate=opts["dilate"],
            feather=opts["feather"], blend=opts["blend"])

    @classmethod
    def fingerprint_for(cls, *, suite=None, data_root=None, args: dict[str, str], seed: int = 0) -> str:
        from partbench.methods.partconcepts.method import weights_digest

        return f"partconcepts-edit-v{EDIT_VERSION}-" + weights_digest(_options(args)["checkpoint"])

    @classmethod
    def describe_for(cls, *, suite=None, data_root=None, args: dict[str, str], seed: int = 0) -> dict[str, Any]:
        from dataclasses import asdict

        from partbench.methods.partconcepts.method import describe_checkpoint

        opts = _options(args)
        saved = ckpt.read_config(opts["checkpoint"])
        settings = asdict(cls._settings(opts, saved))
        return describe_checkpoint(opts["checkpoint"], saved, settings["noise"]) | {
            "edit": settings, "edit_version": EDIT_VERSION, "mask": "found by PartConcepts (the ground-truth mask "
                                                                    "is never read)"}

    @classmethod
    def meaningful_for(cls, args: dict[str, str]) -> bool:
        """A tiny checkpoint is a smoke model: its edits show the pipeline runs, not what the method can do."""
        from partbench.methods.partconcepts.method import checkpoint_meaningful

        return checkpoint_meaningful(_options, args)

    def fingerprint(self) -> str:
        return self._fingerprint

    def edit(self, samples: Sequence) -> list[np.ndarray]:
        from partbench.methods.partconcepts.edit import edit_image
        from partbench.methods.partconcepts.method import sample_seed

        if self.settings.resolution % self.model.token_stride:
            raise PartbenchError(f"{NAME}: resolution {self.settings.resolution} is not a multiple of the model's "
                                 f"token stride {self.model.token_stride}.")
        return [edit_image(self.model, s.image, locate_prompt(s.record), edit_prompt(s.record),
                           sample_seed(self.seed, s.id), self.settings).image for s in samples]
