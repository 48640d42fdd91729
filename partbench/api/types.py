"""The types a method meets: the vocabulary of a segmentation suite, the prompts of a generation suite, and the
interface each task kind's methods implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from partbench.data.types import Sample
    from partbench.suites import Suite


@dataclass(frozen=True)
class Vocabulary:
    """The suite's part classes (ids = positions) and, in the oracle-object setting, each object's allowed parts."""

    classes: tuple[str, ...]
    object_classes: tuple[str, ...]
    parts_by_object: dict[str, tuple[int, ...]]
    setting: str
    ignore_label: int

    @classmethod
    def from_suite(cls, suite: Suite) -> Vocabulary:
        return cls(suite.classes, suite.object_classes, suite.parts_by_object, suite.setting, suite.ignore_label)

    def allowed(self, sample: Sample) -> tuple[int, ...]:
        """Class ids a method may predict for `sample`: its object's parts (oracle-object) or every class."""
        if self.setting == "oracle-object" and sample.object_class is not None:
            return self.parts_by_object.get(sample.object_class, ())
        return tuple(range(len(self.classes)))


@runtime_checkable
class SegmentationMethod(Protocol):
    """Predicts, per sample, an HxW class-id map (ignore label = no prediction) or CxHxW class scores."""

    def fingerprint(self) -> str:
        """Identifies the weights/state: part of the prediction cache key (e.g. a checkpoint hash)."""

    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class PromptItem:
    """One generation prompt of a generation suite: its stable id, the text, and what it asks of which part."""

    id: str
    prompt: str
    object_class: str | None = None
    part: str | None = None
    attribute: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@runtime_checkable
class GenerationMethod(Protocol):
    """Generates one image per (prompt, seed) pair; the same pair must give the same image."""

    def fingerprint(self) -> str: ...

    def generate(self, prompts: Sequence[PromptItem], seeds: Sequence[int]) -> list[Image]: ...
