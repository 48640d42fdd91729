"""Part reasoning segmentation (suite task `part-reasoning`, Partonomy): per QA record, one mask per part of the
correct answer, scored with Partonomy's grounded IoU (`partbench.metrics.giou`, `partbench.metrics.giou_reduce`).

Methods: a method registered for this kind implements `segment_parts(samples) -> list[(K, H, W) bool]`
(`partbench.data.partonomy.PartonomySample`: `record` with the question and the correct answer's part labels,
`part_phrases`, `image`, `size`); every *segmentation* method runs too, teacher-forced on the correct answer
(`partbench.tasks.teacher_forcing`), because this kind declares `method_kinds = ("segmentation",)`.

Run options taken from `--method-arg` (never passed to the method): `competitor` and `part_threshold` (teacher
forcing, part of the run's identity). `--convention partonomy|strict` chooses how missing masks count (scoring
only). Predictions are `predictions/<record id>.json` (COCO RLE); `partbench score` reads Partonomy's predictions
JSON or a mask folder (`partbench.tasks.partonomy_import`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError
from partbench.tasks.base import Prediction, TaskKind, Work, first_items
from partbench.tasks.kind_args import PART_REASONING_ARGS
from partbench.tasks.part_masks import PartMasks

if TYPE_CHECKING:
    from partbench.data.partonomy import PartonomySample
    from partbench.metrics.giou_reduce import RecordScore
    from partbench.store.run_dir import RunDir
    from partbench.suites import Suite

SETTING = "teacher-forced"
CIOU_NOTE = ("ciou is partbench's own (sum of intersections / sum of unions over every scored mask); Partonomy's "
             "evaluator has only macro and micro gIoU")


class PartReasoningEvaluator:
    """Rows are `RecordScore`s; the headline is the paired matching, every mode is in `by_matching`."""

    def __init__(self, convention: str):
        from partbench.metrics.giou import CONVENTIONS

        if convention not in CONVENTIONS:
            raise PartbenchError(f"Part-reasoning suites are scored with convention "
                                 f"{' or '.join(CONVENTIONS)}, not {convention!r}.")
        self.convention = convention
        self.reset()

    def reset(self) -> None:
        self.rows: list[RecordScore] = []

    def process(self, batch: Sequence[tuple[int, PartonomySample, Prediction]]) -> list[RecordScore]:
        from partbench.metrics.giou import match_record
        from partbench.metrics.giou_reduce import RecordScore

        out = []
        for position, sample, prediction in batch:
            masks: PartMasks = prediction.get()
            if masks.masks.shape[1:] != sample.gt_masks.shape[1:] and masks.masks.shape[0]:
                raise PartbenchError(f"{prediction.where}: masks are {masks.masks.shape[2]}x{masks.masks.shape[1]} "
                                     f"(WxH); the image is {sample.size[1]}x{sample.size[0]}.")
            match = match_record(masks.masks, sample.gt_masks, self.convention)
            chosen = None if masks.chosen_answer is None else masks.chosen_answer == sample.record.correct_answer
            out.append(RecordScore.from_match(position, sample.id, sample.question_type, len(sample.gt_masks),
                                              len(masks.masks), match, chosen))
        self.rows.extend(out)
        return out

    def add(self, row: RecordScore) -> None:
        self.rows.append(row)

    def position(self, row: RecordScore) -> int:
        return row.index

    def encode(self, row: RecordScore) -> dict[str, Any]:
        return row.to_json()

    def decode(self, line: dict[str, Any]) -> RecordScore:
        from partbench.metrics.giou_reduce import RecordScore

        return RecordScore.from_json(line)

    def summary(self) -> dict[str, Any]:
        from partbench.metrics.giou import HEADLINE_MODE

        return {"setting": SETTING, "matching": HEADLINE_MODE, "n_samples": sum(r.scored for r in self.rows),
                "n_records": len(self.rows), "n_without_masks": sum(r.n_pred == 0 for r in self.rows)}

    def evaluate(self, n_replicates: int) -> dict[str, Any]:
        from partbench.data.partonomy import TYPE_ORDER
        from partbench.metrics.giou_reduce import by_matching, summarize

        rows = sorted(self.rows, key=lambda r: r.index)
        done = summarize(rows, type_order=TYPE_ORDER, n_replicates=n_replicates)
        return {"metrics": done["metrics"], "ci95": done["ci95"],
                "higher_is_better": dict.fromkeys(done["metrics"], True),
                "by_question_type": done["by_question_type"], "by_matching": by_matching(rows, TYPE_ORDER),
                "metric_notes": {"ciou": CIOU_NOTE, "convention": _CONVENTION_NOTES[self.convention]}}


_CONVENTION_NOTES = {
    "partonomy": "as Partonomy's evaluator: masks beyond the shorter of the predicted and ground-truth lists are not "
                 "scored, and a record with no predicted mask is not scored (n_without_masks)",
    "strict": "every ground-truth part without a predicted mask scores IoU 0; extra predicted masks are ignored",
}


class PartReasoningTask(TaskKind):
    name = "part-reasoning"
    suite_tasks = ("part-reasoning",)
    method_kinds = ("segmentation",)  # run teacher-forced through `partbench.tasks.teacher_forcing`
    arg_params = PART_REASONING_ARGS

    def work(self, suite: Suite, data_root: Path, split: str, limit: int | None, args: dict[str, str],
             seed: int, convention: str | None, **_: Any) -> Work:
        from partbench.data.completeness import check_completeness
        from partbench.metrics.giou import CONVENTIONS
        from partbench.tasks.teacher_forcing import PROTOCOL_ARGS, TeacherForcing

        convention = convention or suite.convention
        if convention not in CONVENTIONS:
            raise PartbenchError(f"Suite {suite.name!r} is scored with --convention {' or '.join(CONVENTIONS)}, "
                                 f"not {convention!r}.")
        protocol = TeacherForcing.from_args(args)
        reader = suite.make_reader(data_root)
        reader.check(split)
        index = reader.index(split)
        refs, limited = first_items(index.refs, limit)

        def load(ref: Any) -> PartonomySample:
            sample = reader.load(ref)
            sample.extra["protocol"] = protocol
            return sample

        return Work(items=refs, load=load, method_args={k: v for k, v in args.items() if k not in PROTOCOL_ARGS},
                    identity_args=args, evaluator_config={"convention": convention}, skipped=dict(index.skipped),
                    config={"teacher_forcing": protocol.describe()}, input_files=reader.input_files,
                    completeness=check_completeness(suite, reader, split, index), limited=limited)

    def warm(self, sample: PartonomySample) -> None:
        sample.image  # noqa: B018 - decoded here, in a loader thread, ahead of inference

    def call(self, method: Any, samples: list[PartonomySample], suite: Suite, method_name: str) -> list[PartMasks]:
        import numpy as np

        from partbench.tasks.teacher_forcing import TeacherForcing, part_masks, vocabulary_for

        if hasattr(method, "segment_parts"):  # a method of this kind: one mask per part, itself
            outputs = list(method.segment_parts(samples))
            if len(outputs) != len(samples):
                raise PartbenchError(f"Method {method_name!r} returned {len(outputs)} answers for {len(samples)} "
                                     f"records.")
            return [PartMasks(np.asarray(o, dtype=bool)) for o in outputs]
        out = []
        for sample in samples:  # each record has its own vocabulary: one predict call per record
            protocol = sample.extra.get("protocol", TeacherForcing())
            seg_sample, vocabulary = vocabulary_for(sample, protocol)
            answer = list(method.predict([seg_sample], vocabulary))
            if len(answer) != 1:
                raise PartbenchError(f"Method {method_name!r} returned {len(answer)} predictions for 1 sample.")
            where = f"method {method_name!r}, record {sample.id}"
            out.append(PartMasks(part_masks(answer[0], sample, len(vocabulary.classes), protocol, where)))
        return out

    def finalize(self, output: PartMasks, sample: PartonomySample, suite: Suite, where: str) -> PartMasks:
        if not isinstance(output, PartMasks):
            raise PartbenchError(f"{where}: expected part masks, got {type(output).__name__}.")
        return output.check(sample.size, where)

    def prediction_path(self, run_dir: RunDir, item: Any) -> Path:
        return run_dir.predictions / f"{item.id}.json"

    def encode(self, prediction: PartMasks, suite: Suite, key: str) -> bytes:
        from partbench.tasks.part_masks import encode_file

        return encode_file(prediction, key)

    def decode(self, path: Path, suite: Suite) -> PartMasks:
        from partbench.tasks.part_masks import decode_file

        return decode_file(path)

    def stored_key(self, path: Path) -> str | None:
        from partbench.tasks.part_masks import stored_key

        return stored_key(path)

    def open_saved(self, suite: Suite, path: Path, work: Work, allow_missing: bool) -> Any:
        from partbench.tasks.partonomy_import import SavedPartMasks

        return SavedPartMasks(Path(path), work, allow_missing)

    def evaluator(self, suite: Suite, config: dict[str, Any], run_dir: RunDir | None,
                  force: bool) -> PartReasoningEvaluator:
        return PartReasoningEvaluator(config["convention"])
