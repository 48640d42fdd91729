"""Two reference points that need no weights: the ground truth itself, and chance level."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from partbench.api.method import check_method_args
from partbench.api.types import Vocabulary
from partbench.data.types import Sample
from partbench.suites import Suite


class Oracle:
    """Returns the ground-truth part map. Any score below 100 means the data or scoring pipeline is broken."""

    needs_images = False  # reads the ground truth, never the image

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        check_method_args("oracle", (), args)

    @classmethod
    def fingerprint_for(cls, **_) -> str:
        return "oracle-v1"

    def fingerprint(self) -> str:
        return self.fingerprint_for()

    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        return [s.part_label_map.copy() for s in samples]


class RandomParts:
    """A uniformly random allowed part at every object pixel, from a generator seeded by (seed, sample id).

    Seeding per sample rather than per run makes each prediction independent of batch size, sample order and
    resumption, so cached and fresh predictions agree.
    """

    needs_images = False  # works from the object mask alone

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        check_method_args("random", (), args)
        self.seed = seed

    @classmethod
    def fingerprint_for(cls, **_) -> str:
        return "random-v1"

    def fingerprint(self) -> str:
        return self.fingerprint_for()

    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        out = []
        for s in samples:
            rng = np.random.default_rng([self.seed, zlib.crc32(s.id.encode())])
            allowed = np.asarray(vocabulary.allowed(s), dtype=np.int64)
            pred = np.full(s.size, vocabulary.ignore_label, dtype=np.int64)
            mask = s.object_mask
            pred[mask] = rng.choice(allowed, size=int(mask.sum()))
            out.append(pred)
        return out
