"""Part segmentation (suite tasks `part-semantic` and `part-instance`): samples from a dataset reader, HxW class-id
maps stored as PNGs, scored by per-sample confusion entries (`partbench.metrics.partseg`)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError
from partbench.tasks.base import Prediction, TaskKind, Work, check_coverage, first_items

if TYPE_CHECKING:
    import numpy as np

    from partbench.api.types import Vocabulary
    from partbench.data.types import Sample
    from partbench.metrics.partseg import SampleScore
    from partbench.store.run_dir import RunDir
    from partbench.suites import Suite


def finalize_prediction(output: Any, sample: Sample, vocabulary: Vocabulary, where: str) -> np.ndarray:
    """An HxW class-id map ready to score (integers: the method's values, in a type that also holds ignore).

    CxHxW scores are reduced by argmax over the classes the setting allows (oracle-object: the sample's object's
    parts, exact name match; see docs/suites.md). In the oracle-object setting every pixel outside the object is then
    set to ignore, as the OV-PARTS evaluator does: there the ground truth is ignored anyway.
    """
    import numpy as np

    output = np.asarray(output)
    h, w = sample.size
    if output.ndim == 3:
        if output.shape != (len(vocabulary.classes), h, w):
            raise PartbenchError(
                f"{where}: scores have shape {output.shape}; expected ({len(vocabulary.classes)}, {h}, {w}).")
        allowed = np.asarray(vocabulary.allowed(sample), dtype=np.int64)
        pred = allowed[np.argmax(output[allowed], axis=0)]
    elif output.ndim == 2:
        if output.shape != (h, w):
            raise PartbenchError(f"{where}: prediction is {output.shape[1]}x{output.shape[0]} (WxH); "
                                 f"the sample is {w}x{h}.")
        if not np.issubdtype(output.dtype, np.integer):
            raise PartbenchError(f"{where}: a class-id map must hold integers, got {output.dtype}.")
        pred = output
    else:
        raise PartbenchError(f"{where}: expected an HxW class-id map or CxHxW scores, got shape {output.shape}.")
    # The values of `pred.astype(int64)`, in the narrowest type that holds them and the ignore value: an 8-bit map
    # read from a PNG stays 8-bit (an eighth of the memory traffic), integers int64 cannot hold exactly are converted.
    ignore = vocabulary.ignore_label
    exact = np.can_cast(pred.dtype, np.int64, "safe")
    dtype = np.promote_types(pred.dtype, np.min_scalar_type(ignore)) if exact else np.dtype(np.int64)
    if vocabulary.setting != "oracle-object":
        return pred.astype(dtype)  # a copy even of the same type: the map may be shared with other samples
    # `np.where(object_mask, pred, ignore)` as a masked copy into a map of ignore: several times faster. One object's
    # own boolean mask is the union `object_mask` would build (and copy).
    only = sample.objects[0].mask if len(sample.objects) == 1 else None
    mask = only if only is not None and only.dtype == bool and only.shape == (h, w) else sample.object_mask
    out = np.full((h, w), ignore, dtype=dtype)
    np.copyto(out, pred, where=mask, casting="unsafe")  # unsafe: astype's conversion (the int64 case)
    return out


class PartSegEvaluator:
    """The part-segmentation scorer behind the `Evaluator` interface: rows are `SampleScore`s."""

    def __init__(self, suite: Suite, convention: str):
        self.suite = suite
        self.convention = convention
        self.reset()

    def reset(self) -> None:
        from partbench.metrics.partseg import ClassSpace, PartSegScorer

        self.scorer = PartSegScorer(ClassSpace.from_suite(self.suite))

    def process(self, batch: Sequence[tuple[int, Sample, Prediction]]) -> list[SampleScore]:
        # An image's samples are consecutive in every index: each run of them is counted with one bincount.
        rows: list[SampleScore] = []
        for _, group in groupby(batch, key=lambda triple: triple[1].image_id):
            rows += self.scorer.update_many([(position, s.id, p.get(), s.part_label_map, p.where, s.object_class)
                                             for position, s, p in group])
        return rows

    def add(self, row: SampleScore) -> None:
        self.scorer.add(row)

    def position(self, row: SampleScore) -> int:
        return row.index

    def encode(self, row: SampleScore) -> dict[str, Any]:
        return row.to_json()

    def decode(self, line: dict[str, Any]) -> SampleScore:
        from partbench.metrics.partseg import SampleScore

        return SampleScore.from_json(line)

    def summary(self) -> dict[str, Any]:
        return {"setting": self.suite.setting, "n_samples": len(self.scorer.samples)}

    def evaluate(self, n_replicates: int) -> dict[str, Any]:
        return self.scorer.compute(self.convention, n_replicates=n_replicates)


class SavedMaps:
    """A PNG directory or detectron2 JSON (`partbench.tasks.imported_maps`) read per sample; missing ones empty if
    allowed."""

    def __init__(self, suite: Suite, path: Path, work: Work, allow_missing: bool):
        from partbench.tasks.imported_maps import open_predictions

        self.suite, self.path = suite, path
        self.source = open_predictions(path, suite.num_classes, suite.ignore_label)
        missing = self.source.missing(work.items)
        check_coverage(path, len(work.items), [r.id for r in missing], self.source.unmatched(work.items),
                       allow_missing, unit="samples", empty="predicting nothing", hint=self.source.hint())
        self.n_missing = len(missing)
        self._missing_ids = {r.id for r in missing}

    def read(self, sample: Sample) -> np.ndarray:
        import numpy as np

        if sample.id in self._missing_ids:  # counts as predicting nothing: every labelled pixel is a miss
            return np.full(sample.size, self.suite.ignore_label, dtype=np.int64)
        return self.source.load(sample.ref)

    def describe(self, sample: Sample) -> str:
        return self.source.describe(sample.ref)


class SegmentationTask(TaskKind):
    arg_params = ()  # every --method-arg is the method's
    name = "segmentation"
    suite_tasks = ("part-semantic", "part-instance")
    unscorable = "empty_ground_truth"
    options = ("gt_resize",)

    def work(self, suite: Suite, data_root: Path, split: str, limit: int | None, args: dict[str, str],
             seed: int, convention: str | None, gt_resize: str | None = None) -> Work:
        from partbench.data.completeness import check_completeness
        from partbench.metrics.conventions import check_convention

        convention = check_convention(convention or suite.convention)
        reader = suite.make_reader(data_root)
        reader.check(split)
        from partbench.data.index_cache import cached_index

        index = cached_index(reader, data_root, split)
        refs, limited = first_items(index.refs, limit)
        load, config = reader.load, {}
        if gt_resize is not None:
            from partbench.data.gt_resize import GtResize, round_trip

            spec = GtResize.parse(gt_resize)
            load, config = (lambda ref: round_trip(reader.load(ref), spec)), {"gt_resize": str(spec)}
        return Work(items=refs, load=load, method_args=args, identity_args=args, config=config,
                    evaluator_config={"convention": convention}, skipped=dict(index.skipped),
                    input_files=getattr(reader, "input_files", _image_only),
                    completeness=check_completeness(suite, reader, split, index), limited=limited)

    def scorable(self, sample: Sample) -> bool:
        return sample.has_labels

    def warm(self, sample: Sample) -> None:
        sample.image  # noqa: B018 - decoded here, in a loader thread, ahead of inference

    def call(self, method: Any, samples: list[Sample], suite: Suite, method_name: str) -> list[Any]:
        outputs = method.predict(samples, _vocabulary(suite))
        if len(outputs) != len(samples):
            raise PartbenchError(
                f"Method {method_name!r} returned {len(outputs)} predictions for {len(samples)} samples.")
        return list(outputs)

    def finalize(self, output: Any, sample: Sample, suite: Suite, where: str) -> np.ndarray:
        return finalize_prediction(output, sample, _vocabulary(suite), where)

    def encode(self, prediction: np.ndarray, suite: Suite, key: str) -> bytes:
        from partbench.store.run_dir import encode_label_png

        return encode_label_png(prediction, suite.ignore_label, key)

    def decode(self, path: Path, suite: Suite) -> np.ndarray:
        from partbench.data.images import read_label_png

        return read_label_png(path)

    def open_saved(self, suite: Suite, path: Path, work: Work, allow_missing: bool) -> SavedMaps:
        return SavedMaps(suite, Path(path), work, allow_missing)

    def evaluator(self, suite: Suite, config: dict[str, Any], run_dir: RunDir | None, force: bool) -> PartSegEvaluator:
        return PartSegEvaluator(suite, config["convention"])


def _image_only(ref: Any) -> list[Path]:
    """Input files of a reader that does not list them (a plugin's): at least the image is watched."""
    return [ref.image_path]


def _vocabulary(suite: Suite) -> Vocabulary:
    from partbench.api.types import Vocabulary

    return Vocabulary.from_suite(suite)
