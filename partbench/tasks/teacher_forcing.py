"""Any part segmenter on a part-reasoning record, teacher-forced on the correct answer: the record becomes the
`(Sample, Vocabulary)` pair segmentation methods already take, and their answer becomes one mask per part.

Why teacher-forced: Partonomy scores the masks its model makes while conditioned on the *correct* answer's text
(`validate_partonomy.py`, `gt_predicted_masks`), independently of which answer it picks. A segmenter cannot pick an
answer, so it is given the correct answer's parts, which is exactly that protocol.

- Vocabulary: the correct answer's parts, in answer order (class k = part k), each phrased `"<object>'s <part>"`
  (`partbench.data.partonomy.part_phrase`; CLIPSeg and ConceptAttention drop the `'s`: "agricultural airplane
  wing"), then the competing classes (`competitor`, default `background`: a class literally named "background";
  `object`: the record's object name, so pixels of the object that no named part wins go to it;
  `background+object`: both; `none`: parts only). The whole image is the sample's one object (the model sees the
  image, not an object mask), so methods that respect the oracle-object restriction choose among these classes.
- Masks: part k's mask is the pixels where class k wins (an HxW class-id map, or the argmax of CxHxW scores). With
  `part_threshold=T`, a method that returns CxHxW scores has part k's mask = scores[k] > T instead, each part on
  its own (parts may then overlap, as Partonomy's masks may); a class-id map cannot be thresholded and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.data.types import ObjectAnnotation, Sample
from partbench.errors import PartbenchError
from partbench.tasks.kind_args import COMPETITORS, PART_REASONING_ARGS

if TYPE_CHECKING:
    from partbench.api.types import Vocabulary
    from partbench.data.partonomy import PartonomySample

PROTOCOL_ARGS = tuple(p.name for p in PART_REASONING_ARGS)  # --method-arg keys the task kind takes, never the method


@dataclass(frozen=True)
class TeacherForcing:
    """The protocol's settings (part of the run's identity: they change the masks)."""

    competitor: str = "background"
    part_threshold: float | None = None

    @classmethod
    def from_args(cls, args: dict[str, str]) -> TeacherForcing:
        competitor = args.get("competitor", "background")
        if competitor not in COMPETITORS:
            raise PartbenchError(f"--method-arg competitor must be one of {', '.join(COMPETITORS)}, "
                                 f"got {competitor!r}.")
        threshold = None
        if "part_threshold" in args:
            try:
                threshold = float(args["part_threshold"])
            except ValueError:
                raise PartbenchError(f"--method-arg part_threshold must be a number, got "
                                     f"{args['part_threshold']!r}.") from None
        return cls(competitor, threshold)

    def describe(self) -> dict[str, Any]:
        return {"protocol": "teacher-forced (correct answer's parts)", "competitor": self.competitor,
                "part_threshold": self.part_threshold,
                "part_phrase": "<object>--part:<part> -> \"<image_label>'s <part>\" (underscores as spaces)"}


class _RecordImageSample(Sample):
    """A segmentation `Sample` whose image is the record's (EXIF-rotated) image."""

    source: PartonomySample | None = None

    @cached_property
    def image(self) -> np.ndarray:  # type: ignore[override]
        assert self.source is not None
        return self.source.image


def vocabulary_for(record_sample: PartonomySample, protocol: TeacherForcing) -> tuple[Sample, Vocabulary]:
    """The record as a segmentation sample and its own vocabulary (parts first, then the competitors)."""
    from partbench.api.types import Vocabulary

    label = record_sample.record.image_label or "object"
    names = list(record_sample.part_phrases)
    names += [label if c == "object" else c for c in COMPETITORS[protocol.competitor]]
    ignore = 255 if len(names) < 255 else 65535
    k = len(record_sample.part_phrases)
    # The ground truth in these ids, for methods that read it (`oracle`): where parts overlap the last one wins.
    gt = np.full(record_sample.size, k if protocol.competitor.startswith("background") else ignore, dtype=np.int64)
    for i, mask in enumerate(record_sample.gt_masks):
        gt[mask] = i
    sample = _RecordImageSample(ref=record_sample.ref, objects=[ObjectAnnotation(
        class_name=label, mask=np.ones(record_sample.size, dtype=bool))], part_label_map=gt, ignore_label=ignore)
    sample.source = record_sample
    vocabulary = Vocabulary(classes=tuple(names), object_classes=(label,),
                            parts_by_object={label: tuple(range(len(names)))}, setting="oracle-object",
                            ignore_label=ignore)
    return sample, vocabulary


def part_masks(output: Any, record_sample: PartonomySample, n_classes: int, protocol: TeacherForcing,
               where: str) -> np.ndarray:
    """A segmentation method's answer for the record as (K, H, W) bool masks, K = the correct answer's parts."""
    output = np.asarray(output)
    h, w = record_sample.size
    k = len(record_sample.part_phrases)
    if output.ndim == 3:
        if output.shape != (n_classes, h, w):
            raise PartbenchError(f"{where}: scores have shape {output.shape}; expected ({n_classes}, {h}, {w}).")
        if protocol.part_threshold is not None:
            return output[:k] > protocol.part_threshold
        output = np.argmax(output, axis=0)
    elif output.ndim == 2:
        if output.shape != (h, w):
            raise PartbenchError(f"{where}: prediction is {output.shape[1]}x{output.shape[0]} (WxH); the image is "
                                 f"{w}x{h}.")
        if not np.issubdtype(output.dtype, np.integer):
            raise PartbenchError(f"{where}: a class-id map must hold integers, got {output.dtype}.")
        if protocol.part_threshold is not None:
            raise PartbenchError(f"{where}: part_threshold needs CxHxW scores, but the method returned a class-id "
                                 f"map (it decides between parts itself); drop part_threshold for this method.")
    else:
        raise PartbenchError(f"{where}: expected an HxW class-id map or CxHxW scores, got shape {output.shape}.")
    return np.stack([output == i for i in range(k)])
