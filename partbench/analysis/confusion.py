"""Which parts a run confuses with which: per object, ground-truth part x predicted part, from its confusion rows.

Rows are the object's parts (ground truth); columns are the same parts, then `other` (a class of another object,
possible outside the oracle-object setting) and `none` (no prediction on a labelled pixel). Each row is normalised
to sum to 1, so a row reads "of this part's pixels, this share was predicted as ..." (a part without ground truth
in the split has a blank row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from partbench.analysis.runs import object_of_sample


@dataclass
class ObjectConfusion:
    object: str
    parts: list[str]  # part phrases (rows; the first len(parts) columns)
    counts: np.ndarray  # (P, P + 2) pixel counts: columns = parts, other, none
    unseen: bool

    @property
    def columns(self) -> list[str]:
        return [*self.parts, "other", "none"]

    def normalised(self) -> np.ndarray:
        totals = self.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, self.counts / np.maximum(totals, 1), np.nan)


def object_confusions(rows: Sequence[dict[str, Any]], suite: Any) -> list[ObjectConfusion]:
    """One `ObjectConfusion` per object of `suite` with parts and ground truth in `rows`, in the suite's order."""
    from partbench.suites import part_of

    c = suite.num_classes
    full: dict[str, np.ndarray] = {}
    for row in rows:
        obj = object_of_sample(row)
        if obj is None:
            continue
        entries = np.asarray(row["conf"], dtype=np.int64).reshape(-1, 3)
        conf = full.setdefault(obj, np.zeros((c + 1, c), dtype=np.int64))
        np.add.at(conf, (entries[:, 0], entries[:, 1]), entries[:, 2])
    out = []
    for obj in suite.object_classes:
        ids = list(suite.part_ids_of(obj))
        if not ids or obj not in full:
            continue
        conf = full[obj]  # [pred, gt]
        own = conf[np.ix_(ids, ids)].T  # rows: gt part, columns: predicted part
        none = conf[c, ids]
        other = conf[:c, ids].sum(axis=0) - conf[np.ix_(ids, ids)].sum(axis=0)
        counts = np.concatenate([own, other[:, None], none[:, None]], axis=1)
        if counts.sum() == 0:
            continue
        # A part without ground truth in this split keeps its row (blank: nothing to normalise), so that every
        # object's matrix is square and reads the same for every run.
        out.append(ObjectConfusion(obj, [part_of(suite.classes[k]) for k in ids], counts,
                                   obj in suite.unseen_objects))
    return out
