"""Partonomy's released QA file (`partonomy_qa_pairs.json` + `images/`, HF dataset `partonomy/partonomy-core`): its
records, as partbench's part-reasoning samples.

Each record is a multiple-choice question about one object image. Its ground truth is one mask per part label of
the correct answer (`answer_types` says which choice; `answer_parts[correct]` gives the labels, in order), each the
OR of that label's annotations in `segmentations` (`partbench.data.partonomy_masks`). Records are read in file
order; a record's id is `<image path without images/ and extension>__<question_type>`, with `__2`, `__3`, ... for
further records of the same image and type (prediction files and cache keys use it).

Question types map exactly (never by a word inside the name): upstream `identification_with_label` is partbench's
`identification`, `positive_with_label` `intersection`, `negative_with_label` `difference`; `whole_to_part` and
`part_to_whole` keep their names. Upstream's separate `difference` type ("in common with X but not with Y") is
`common_but_not`, and the variants that say "object" instead of the label get `_unlabelled`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.data.readers import SampleIndex, require_paths
from partbench.data.types import SampleRef
from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.data.completeness import Inventory
    from partbench.suites import Suite

QA_FILE = "partonomy_qa_pairs.json"
# Upstream `QuestionType` value -> partbench question type (the paper's names where it has them).
QUESTION_TYPES = {
    "identification_with_label": "identification",
    "positive_with_label": "intersection",
    "negative_with_label": "difference",
    "whole_to_part": "whole_to_part",
    "part_to_whole": "part_to_whole",
    "difference_with_label": "common_but_not",
    "identification": "identification_unlabelled",
    "positive": "intersection_unlabelled",
    "negative": "difference_unlabelled",
    "difference": "common_but_not_unlabelled",
}
TYPE_ORDER = tuple(QUESTION_TYPES.values())
PART_MARK = "--part:"


@dataclass(frozen=True)
class PartonomyRecord:
    """One QA record, checked: what a method may read (question, answer text, part labels) and where its masks are."""

    position: int  # index in the JSON list
    image_path: str  # as written in the file
    image_label: str
    question: str
    question_type: str  # upstream value
    answer_choices: tuple[str, ...]
    correct: int  # index of the correct choice
    gt_parts: tuple[str, ...]  # part labels of the correct answer, in order
    object_question: str | None = None

    @property
    def kind(self) -> str:
        """partbench's name of the question type."""
        return QUESTION_TYPES[self.question_type]

    @property
    def correct_answer(self) -> str:
        return self.answer_choices[self.correct]


def part_phrase(label: str, image_label: str) -> str:
    """How a segmenter reads a part label: `<object>--part:<part>` -> `"<image label>'s <part>"` (underscores as
    spaces; the record's natural-language object name, else the label's own prefix); a label without `--part:` is the
    part itself."""
    prefix, mark, part = label.partition(PART_MARK)
    if not mark:
        prefix, part = "", label
    obj = " ".join((image_label or prefix.replace("_", " ") or "object").split())
    return f"{obj}'s {' '.join(part.replace('_', ' ').split())}"


def parse_record(raw: Any, position: int, where: str) -> PartonomyRecord | str:
    """A checked record, or the reason (a skip key) it cannot be scored; malformed entries are errors."""
    at = f"{where}[{position}]"
    if not isinstance(raw, dict):
        raise PartbenchError(f"{at}: a record must be a mapping, got {type(raw).__name__}.")
    for key, kind in (("image_path", str), ("question_type", str), ("answer_choices", list),
                      ("answer_types", list), ("answer_parts", list), ("segmentations", dict)):
        if not isinstance(raw.get(key), kind):
            raise PartbenchError(f"{at}: {key!r} must be a {kind.__name__}, got {type(raw.get(key)).__name__}.")
    qtype = raw["question_type"]
    if qtype not in QUESTION_TYPES:
        raise PartbenchError(f"{at}: unknown question_type {qtype!r} (known: {', '.join(QUESTION_TYPES)}).")
    types = raw["answer_types"]
    if types.count("correct") != 1:
        raise PartbenchError(f"{at}: answer_types must hold exactly one 'correct', got {types!r}.")
    correct = types.index("correct")
    choices, parts = raw["answer_choices"], raw["answer_parts"]
    if len(choices) != len(types) or len(parts) != len(types):
        raise PartbenchError(f"{at}: answer_choices ({len(choices)}), answer_types ({len(types)}) and answer_parts "
                             f"({len(parts)}) must have one entry per choice.")
    gt = parts[correct]
    if not isinstance(gt, list) or not all(isinstance(p, str) for p in gt):
        raise PartbenchError(f"{at}: answer_parts[{correct}] must be a list of part labels.")
    if not gt:
        return "no_answer_parts"
    if any(p not in raw["segmentations"] or not raw["segmentations"][p] for p in gt):
        return "part_without_annotation"
    return PartonomyRecord(position=position, image_path=raw["image_path"], image_label=str(raw.get("image_label")
                           or ""), question=str(raw.get("question") or ""), question_type=qtype,
                           answer_choices=tuple(str(c) for c in choices), correct=correct, gt_parts=tuple(gt),
                           object_question=raw.get("object_question"))


def record_ids(records: list[PartonomyRecord]) -> list[str]:
    """Stable, file-name-safe ids (see the module docstring)."""
    out, seen = [], {}
    for r in records:
        parts = PurePosixPath(r.image_path.replace("\\", "/")).with_suffix("").parts
        if parts and parts[0] == "/":
            parts = parts[1:]
        if "images" in parts:
            parts = parts[len(parts) - parts[::-1].index("images"):]
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)).strip("_") or "image"
        key = f"{base}__{r.question_type}"
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}__{seen[key]}")
    return out


def resolve_image(root: Path, image_path: str) -> Path:
    """The image file: `image_path` under the dataset folder; else, for a path written on another machine, its part
    from the last `images/` on, or `images/<file name>`."""
    parts = PurePosixPath(image_path.replace("\\", "/")).parts
    candidates = [root / image_path] if not PurePosixPath(image_path).is_absolute() else []
    if "images" in parts:
        candidates.append(root.joinpath(*parts[len(parts) - 1 - parts[::-1].index("images"):]))
    candidates.append(root / "images" / parts[-1])
    return next((c for c in candidates if c.is_file()), candidates[0])


@dataclass
class PartonomySample:
    """A loaded record: its masks (K, H, W) in the correct answer's part order, and its image (decoded lazily)."""

    ref: SampleRef
    record: PartonomyRecord
    gt_masks: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)  # the task kind's per-run settings (teacher forcing)

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def size(self) -> tuple[int, int]:
        return int(self.gt_masks.shape[1]), int(self.gt_masks.shape[2])

    @property
    def question_type(self) -> str:
        return self.record.kind

    @property
    def part_phrases(self) -> list[str]:
        return [part_phrase(p, self.record.image_label) for p in self.record.gt_parts]

    @cached_property
    def image(self) -> np.ndarray:
        from partbench.data.partonomy_masks import read_image

        arr = read_image(self.ref.image_path)
        if arr.shape[:2] != self.size:
            raise PartbenchError(f"{self.ref.image_path}: image is {arr.shape[1]}x{arr.shape[0]} after EXIF "
                                 f"rotation but its masks are {self.size[1]}x{self.size[0]}.")
        return arr


class PartonomyReader:
    """`<dataset_dir>/<file>` (default `partonomy_qa_pairs.json`) and its images; one split per file."""

    def __init__(self, suite: Suite, data_root: Path, files: dict[str, str] | None = None):
        self.suite = suite
        self.root = suite.dataset_path(data_root)
        self.files = dict(files or {suite.default_split: QA_FILE})
        self._lock = threading.Lock()
        self._parsed: dict[str, tuple[list[PartonomyRecord], dict[str, int], list[dict]]] = {}

    def qa_path(self, split: str) -> Path:
        if split not in self.files:
            from partbench.errors import DataNotFoundError

            raise DataNotFoundError(f"Suite {self.suite.name!r} has no {split!r} split (it has "
                                    f"{', '.join(self.files)}).")
        return self.root / self.files[split]

    def check(self, split: str) -> None:
        require_paths(self.suite, self.root, split, [self.qa_path(split)])

    def _records(self, split: str) -> tuple[list[PartonomyRecord], dict[str, int], list[dict]]:
        with self._lock:  # loader threads share one parse of the file
            if split not in self._parsed:
                from partbench.store.atomic import read_json

                path = self.qa_path(split)
                raw = read_json(path)
                if not isinstance(raw, list):
                    raise PartbenchError(f"{path}: expected a JSON list of QA records.")
                records, skipped = [], {"no_answer_parts": 0, "part_without_annotation": 0}
                for i, entry in enumerate(raw):
                    parsed = parse_record(entry, i, path.name)
                    if isinstance(parsed, str):
                        skipped[parsed] += 1
                    else:
                        records.append(parsed)
                self._parsed[split] = (records, skipped, raw)
            return self._parsed[split]

    def index(self, split: str) -> SampleIndex:
        """The records in file order, less those whose image is not there: left out and counted per record
        (`missing_files`, a key present only when some are), and named by `inventory`, so that `run` refuses the
        split unless `--allow-incomplete-data`."""
        refs, missing, present = [], 0, {}
        for ref in self._all_refs(split):
            if ref.image_path not in present:  # records share images: one look each
                present[ref.image_path] = ref.image_path.is_file()
            if present[ref.image_path]:
                refs.append(ref)
            else:
                missing += 1
        _, skipped, _ = self._records(split)
        return SampleIndex(refs=refs, skipped=dict(skipped) | ({"missing_files": missing} if missing else {}))

    def _all_refs(self, split: str) -> list[SampleRef]:
        """A sample per scorable record, whether or not its image is there (ids do not depend on which are)."""
        self.check(split)
        records, _, _ = self._records(split)
        return [SampleRef(id=rid, image_id=r.image_path, image_path=resolve_image(self.root, r.image_path),
                          object_class=r.image_label, extra={"split": split, "position": r.position, "record": r})
                for rid, r in zip(record_ids(records), records)]

    def annotation_files(self, split: str) -> list[Path]:
        return [self.qa_path(split)]

    def input_files(self, ref: SampleRef) -> list[Path]:
        return [self.qa_path(ref.extra["split"]), ref.image_path]

    def inventory(self, split: str) -> Inventory:
        """Distinct images the records name, and each one that is missing."""
        from partbench.data.completeness import Inventory

        images = {r.image_path for r in self._all_refs(split)}
        problems = [f"{p}: missing (named by {self.qa_path(split).name})" for p in sorted(images) if not p.is_file()]
        return Inventory(counts={"images": len(images) - len(problems)}, problems=problems)

    def load(self, ref: SampleRef) -> PartonomySample:
        from partbench.data.partonomy_masks import image_size, union_of

        _, _, raw = self._records(ref.extra["split"])
        record: PartonomyRecord = ref.extra["record"]
        if not ref.image_path.is_file():
            raise PartbenchError(f"{ref.image_path}: image missing (record {ref.id}).")
        hw = image_size(ref.image_path)
        where = f"{self.files[ref.extra['split']]}[{record.position}].segmentations"
        segs = raw[record.position]["segmentations"]
        masks = np.stack([union_of(segs[p], hw, f"{where}[{p!r}]") for p in record.gt_parts])
        return PartonomySample(ref=ref, record=record, gt_masks=masks)

    def check_sample(self, sample: PartonomySample) -> list[str]:
        """`data verify`: the record loads (done by now), and its image decodes at its masks' size."""
        try:
            sample.image  # noqa: B018 - decoding is the check
        except PartbenchError as e:
            return [str(e)]
        return []


def prepare_partonomy(found: Path, out: Path, layout: Any, suite: Suite) -> Any:
    """`partbench data prepare`: the QA file and `images/` of a downloaded Partonomy folder, nothing else."""
    from partbench.data.prepare import Plan, walk_files
    from partbench.errors import DataNotFoundError

    qa = found / QA_FILE
    if not qa.is_file():
        raise DataNotFoundError(f"{found}: no {QA_FILE} beside images/ (the HF dataset partonomy/partonomy-core "
                                f"ships both).")
    pairs = [(qa, out / QA_FILE)] + [(f, out / f.relative_to(found)) for f in walk_files(found / "images")]
    return Plan(pairs, notes=[f"{len(pairs) - 1} image files"])
