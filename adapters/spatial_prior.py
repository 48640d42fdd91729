"""The spatial prior: where, inside an object's bounding box, each of its parts usually is.

For every object class, part frequencies are counted on a G x G grid over object-normalised coordinates (the
object's bounding box mapped to the unit square) from the suite's train split. By default only **seen** objects are
counted, as the zero-shot protocol requires (OV-PARTS trains on seen parts only); an unseen object's part borrows the
counts of the seen parts with the same phrase ("horse's leg" from "cow's leg"), and a phrase no seen object has
gets none. `train_objects=all` also counts unseen objects, which is not zero-shot. A prediction labels each object pixel
with the most frequent part of its cell. It knows the object class and silhouette (oracle-object) but not which way
the object faces, so on mirrored parts it does no better than the train split's facing statistics: the floor every
learned method must clear, and the reference point for `lr_confusion`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from partbench.adapters.params import SPATIAL_PRIOR
from partbench.api.method import method_options
from partbench.api.types import Vocabulary
from partbench.data.completeness import Completeness, check_completeness
from partbench.data.types import Sample
from partbench.errors import DataNotFoundError, PartbenchError
from partbench.suites import Suite


def grid_cells(mask: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat grid-cell index of every pixel of `mask` in its bounding box, and the pixels' flat image indices."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    gy = np.minimum((ys - y0) * grid // max(y1 - y0, 1), grid - 1)
    gx = np.minimum((xs - x0) * grid // max(x1 - x0, 1), grid - 1)
    return gy * grid + gx, ys * mask.shape[1] + xs


def _options(args: dict[str, str]) -> tuple[int, str, str]:
    opts = method_options("spatial-prior", SPATIAL_PRIOR, args)
    return opts["grid"], opts["train_split"], opts["train_objects"]


# The train split's check made by the last `fingerprint_for`, for the `describe_for` the run loop calls right after it
# with the same arguments: a run then lists the split once (PartImageNet's inventory parses the split's JSON).
# Taken once, so a later describe (files changed in between) checks again.
_LAST_CHECK: dict[tuple, Completeness] = {}


def _check_key(suite: Suite, data_root: Path, args: dict[str, str]) -> tuple:
    return suite.name, suite.version, str(data_root), tuple(sorted(args.items()))


def _train_data(suite: Suite, reader, args: dict[str, str]) -> Completeness:
    """The train split's completeness. A prior fitted on part of it is another prior whose number would pass for the
    full split's, so an incomplete one is refused unless `allow_incomplete_train` (the run's config then says so)."""
    opts = method_options("spatial-prior", SPATIAL_PRIOR, args)
    split = opts["train_split"]
    try:
        reader.check(split)
    except DataNotFoundError as e:
        raise DataNotFoundError(f"spatial-prior is estimated on the {split!r} split. {e}") from None
    check = check_completeness(suite, reader, split)
    if not check.complete and not opts["allow_incomplete_train"]:
        raise PartbenchError(check.fit_refusal(suite.name, "spatial-prior", "-a allow_incomplete_train=true",
                                               "the run's config"))
    return check


class SpatialPrior:
    needs_images = False  # works from the object mask alone

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        self.grid, self.train_split, self.train_objects = _options(args)
        self.suite = suite
        self._fingerprint = self.fingerprint_for(suite=suite, data_root=data_root, args=args, seed=seed)
        self.counts = self._fit(suite.make_reader(data_root))

    @classmethod
    def fingerprint_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> str:
        """Identifies the fitted prior without fitting it: grid, suite version and the train annotations' listing
        (names, sizes, modification times), so an edited train split invalidates cached predictions."""
        grid, train_split, train_objects = _options(args)
        reader = suite.make_reader(data_root)
        train = _train_data(suite, reader, args)
        _LAST_CHECK.clear()
        _LAST_CHECK[_check_key(suite, data_root, args)] = train
        digest = hashlib.sha256(
            f"{suite.name}@{suite.version}/{train_split}/grid={grid}/objects={train_objects}".encode())
        for path in reader.annotation_files(train_split):
            st = path.stat()
            digest.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        # A file missing from the split (an image, where the annotations are one JSON) is not in that listing; what
        # is missing is, so a fit allowed on an incomplete split is not reused once the files are restored.
        for problem in train.problems:
            digest.update(f"missing:{problem}\n".encode())
        return "spatial-prior-v2-" + digest.hexdigest()[:16]

    @classmethod
    def describe_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> dict:
        """The train split it was fitted on, as results.json records an evaluated split's data."""
        _, train_split, _ = _options(args)
        train = _LAST_CHECK.pop(_check_key(suite, data_root, args), None)
        if train is None:
            train = _train_data(suite, suite.make_reader(data_root), args)
        return {"train_split": train_split, "train_data": train.summary()}

    def _fit(self, reader) -> np.ndarray:
        from partbench.console import progress_bar

        counts = np.zeros((self.grid * self.grid, self.suite.num_classes), dtype=np.int64)
        refs = [r for r in reader.index(self.train_split).refs
                if self.train_objects == "all" or r.object_class not in self.suite.unseen_objects]
        with progress_bar(transient=True) as bar:
            task = bar.add_task(f"spatial-prior: fitting on {self.train_split}", total=len(refs), note="")
            for ref in refs:
                sample = reader.load(ref)
                cell, flat = grid_cells(sample.object_mask, self.grid)
                labels = sample.part_label_map.reshape(-1)[flat]
                valid = labels != self.suite.ignore_label
                np.add.at(counts, (cell[valid], labels[valid].astype(np.int64)), 1)
                bar.advance(task)
        return counts if self.train_objects == "all" else self._borrow_for_unseen(counts)

    def _borrow_for_unseen(self, counts: np.ndarray) -> np.ndarray:
        """Give each unseen object's part the summed counts of the seen parts with the same phrase."""
        from partbench.suites import object_of, part_of

        by_phrase: dict[str, np.ndarray] = {}
        for k, name in enumerate(self.suite.classes):
            if object_of(name) not in self.suite.unseen_objects:
                by_phrase.setdefault(part_of(name), np.zeros(counts.shape[0], dtype=np.int64))
                by_phrase[part_of(name)] += counts[:, k]
        for k in self.suite.unseen_ids:
            phrase = part_of(self.suite.classes[k])
            if phrase in by_phrase:
                counts[:, k] = by_phrase[phrase]
        return counts

    def fingerprint(self) -> str:
        return self._fingerprint

    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        out = []
        for s in samples:
            allowed = np.asarray(vocabulary.allowed(s), dtype=np.int64)
            pred = np.full(s.size, vocabulary.ignore_label, dtype=np.int64)
            if allowed.size and s.object_mask.any():
                table = self.counts[:, allowed].astype(np.float64)
                # A cell never seen in training falls back to the object's overall part frequencies.
                table += 1e-6 * table.sum(axis=0, keepdims=True) / max(table.sum(), 1)
                best = allowed[np.argmax(table, axis=1)]
                cell, flat = grid_cells(s.object_mask, self.grid)
                pred.reshape(-1)[flat] = best[cell]
            out.append(pred)
        return out
