"""Weight-free reference points for part-reasoning suites (Partonomy): the ground truth, and the whole-image floor.

`whole-image` answers every part with every pixel, so each part scores |part| / |image|: what a model that cannot
localise at all gets, the floor that any part segmenter must clear. (Segmentation methods, `random` included, run
on these suites too, teacher-forced; see `partbench.tasks.teacher_forcing`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from partbench.api.method import check_method_args
from partbench.data.partonomy import PartonomySample
from partbench.suites import Suite


class PartOracle:
    """The correct answer's masks themselves: every metric must be 100 (a check of the data and scoring pipeline)."""

    needs_images = False

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        check_method_args("oracle", (), args)

    @classmethod
    def fingerprint_for(cls, **_) -> str:
        return "part-oracle-v1"

    def fingerprint(self) -> str:
        return self.fingerprint_for()

    def segment_parts(self, samples: Sequence[PartonomySample]) -> list[np.ndarray]:
        return [s.gt_masks.copy() for s in samples]


class WholeImage:
    """Every part is the whole image."""

    needs_images = False  # the image size is all it needs

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        check_method_args("whole-image", (), args)

    @classmethod
    def fingerprint_for(cls, **_) -> str:
        return "whole-image-v1"

    def fingerprint(self) -> str:
        return self.fingerprint_for()

    def segment_parts(self, samples: Sequence[PartonomySample]) -> list[np.ndarray]:
        return [np.ones((len(s.record.gt_parts), *s.size), dtype=bool) for s in samples]
