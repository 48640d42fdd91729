"""Where a run's left/right errors are: per object and mirrored pair, what the ground-truth pixels of the pair were
predicted as (the correct side, the mirror side, or anything else), split by the way the object faces where the
suite records it (the demo's `meta/<split>.json`).

- mirror %: ground-truth pixels of the pair predicted as the mirror part. Pooled over pairs this is the suite's
  `lr_confusion`; a pixel labelled 'torso' counts as no confusion, so a method that rarely predicts a limb at all
  scores low on it.
- side error %: mirror / (mirror + correct side): of the pair's pixels that got *one of the two* sides, the share
  that got the wrong one, i.e. how well the method tells the sides apart when it finds the part. 50 is a coin flip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ALL = "all"  # the facing of a breakdown that does not split by facing


@dataclass(frozen=True)
class PairErrors:
    object: str
    pair: str  # 'left/right wheel'
    facing: str
    gt: int  # ground-truth pixels of both parts
    correct: int  # predicted as their own side
    mirror: int  # predicted as the other side

    @property
    def mirror_rate(self) -> float | None:
        return 100 * self.mirror / self.gt if self.gt else None

    @property
    def side_error(self) -> float | None:
        found = self.correct + self.mirror
        return 100 * self.mirror / found if found else None


def load_facings(dataset_dir: Path, split: str) -> dict[str, Any] | None:
    """The generator's per-image metadata (`meta/<split>.json`: objects with their `facing`), or None when the
    suite records no facing."""
    path = Path(dataset_dir) / "meta" / f"{split}.json"
    if not path.is_file():
        return None
    from partbench.store.atomic import read_json

    return read_json(path)


def facing_of(meta: dict[str, Any] | None, sample_id: str) -> str:
    """The facing of the sample's object ('mixed' when several instances face different ways)."""
    if meta is None:
        return ALL
    image_id, _, cls = sample_id.rpartition("__")
    objects = meta.get(image_id, {}).get("objects", [])
    facings = {o.get("facing") for o in objects if o.get("class") == cls}
    return str(facings.pop()) if len(facings) == 1 else "mixed"


def pair_errors(rows: Sequence[dict[str, Any]], classes: Sequence[str], pairs: Sequence[tuple[int, int]],
                meta: dict[str, Any] | None = None) -> list[PairErrors]:
    """Per (object, pair, facing) with ground truth, sorted; the mirror counts are the scorer's own
    (`partbench.metrics.leftright.pair_counts`)."""
    from partbench.metrics.leftright import pair_counts
    from partbench.suites import object_of, part_of

    if not pairs:
        return []
    c = len(classes)
    pairs_arr = np.asarray(pairs, dtype=np.int64)
    by_facing: dict[str, np.ndarray] = {}
    for row in rows:
        entries = np.asarray(row["conf"], dtype=np.int64).reshape(-1, 3)
        conf = by_facing.setdefault(facing_of(meta, str(row["id"])), np.zeros((c + 1, c), dtype=np.int64))
        np.add.at(conf, (entries[:, 0], entries[:, 1]), entries[:, 2])
    out = []
    for facing, conf in by_facing.items():
        mirror, gt = pair_counts(conf, pairs_arr)
        correct = conf[pairs_arr[:, 0], pairs_arr[:, 0]] + conf[pairs_arr[:, 1], pairs_arr[:, 1]]
        for k, (a, _) in enumerate(pairs_arr):
            if gt[k]:
                pair = part_of(classes[a]).replace("left", "left/right", 1)
                out.append(PairErrors(object_of(classes[a]), pair, facing, int(gt[k]), int(correct[k]),
                                      int(mirror[k])))
    return sorted(out, key=lambda e: (e.object, e.pair, e.facing))


def pooled(errors: Sequence[PairErrors]) -> PairErrors:
    """All pairs and facings together: the mirror rate is the run's `lr_confusion`."""
    return PairErrors("all", "", ALL, sum(e.gt for e in errors), sum(e.correct for e in errors),
                      sum(e.mirror for e in errors))


def read_meta_for(suite: Any, data_root: Path, split: str) -> dict[str, Any] | None:
    return load_facings(suite.dataset_path(data_root), split)


def as_table(runs: dict[str, list[PairErrors]]) -> tuple[list[tuple[str, str, str]], dict[str, dict]]:
    """Rows (object, pair, facing) over every run, and per run its errors keyed by row."""
    keyed = {name: {(e.object, e.pair, e.facing): e for e in errors} for name, errors in runs.items()}
    keys = sorted(set().union(*(k.keys() for k in keyed.values()))) if keyed else []
    return keys, keyed

