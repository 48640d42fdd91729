"""Part-reasoning predictions made by any codebase, for `partbench score`:

- **Partonomy's own predictions JSON** (`validate_partonomy.py --output_predictions`): `{"metrics": ...,
  "predictions": [{image_path, question_type, questions, gt_parts, predicted_masks: [RLE], predicted_parts_answer,
  ...}]}`. Each prediction is matched to a record by question type and image path (the same path, or one ending in
  the other, so a path written on another machine still matches); when several records share both, by the question
  text, then by `gt_parts`. A prediction that still fits several records, or a record that two predictions fit, is
  refused; a prediction whose `gt_parts` differ from the record's correct answer is refused (its masks would be
  scored against other parts). `predicted_parts_answer` gives the multiple-choice answer.
- **A folder** holding, per record id (`<image path>__<question_type>`, see `partbench.data.partonomy`), either
  `<id>/<k>.png` (k = 0, 1, ... in the correct answer's part order; non-zero pixels are the mask) or `<id>.json` (a
  partbench run's `predictions/` folder).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import PartbenchError
from partbench.tasks.part_masks import PartMasks, decode_file, decode_rle

if TYPE_CHECKING:
    from partbench.data.partonomy import PartonomySample
    from partbench.data.types import SampleRef
    from partbench.tasks.base import Work


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(str(path).replace("\\", "/")).parts if p not in ("/", "."))


def _same_file(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One path ends with the other (`images/x.jpg` and `/data/partonomy/images/x.jpg`)."""
    n = min(len(a), len(b))
    return n > 0 and a[-n:] == b[-n:]


class PartonomyPredictions:
    """Partonomy's predictions JSON, each entry matched to one record up front (errors name the entry)."""

    def __init__(self, path: Path, refs: list[SampleRef]):
        from partbench.data.partonomy import QUESTION_TYPES
        from partbench.store.atomic import read_json

        self.path = path
        doc = read_json(path)
        entries = doc.get("predictions") if isinstance(doc, dict) else doc
        if not isinstance(entries, list):
            raise PartbenchError(f"{path}: expected Partonomy's predictions JSON ({{\"predictions\": [...]}}).")
        by_name: dict[tuple[str, str], list[SampleRef]] = {}
        for ref in refs:
            record = ref.extra["record"]
            by_name.setdefault((record.question_type, _parts(record.image_path)[-1]), []).append(ref)
        self.entries, self.by_record, self.unmatched = entries, {}, []
        for j, p in enumerate(entries):
            where = f"{path}: predictions[{j}]"
            if not isinstance(p, dict) or not isinstance(p.get("image_path"), str) or \
                    p.get("question_type") not in QUESTION_TYPES:
                raise PartbenchError(f"{where}: needs 'image_path' and a 'question_type' among "
                                     f"{', '.join(QUESTION_TYPES)}.")
            ref = self._match(p, by_name.get((p["question_type"], _parts(p["image_path"])[-1]), []), where)
            if ref is None:
                self.unmatched.append(j)
                continue
            if ref.id in self.by_record:
                raise PartbenchError(f"{where}: record {ref.id} is already matched by predictions"
                                     f"[{self.by_record[ref.id]}]; one prediction per record.")
            gt_parts = p.get("gt_parts")
            if gt_parts is not None and tuple(gt_parts) != ref.extra["record"].gt_parts:
                raise PartbenchError(f"{where}: gt_parts {list(gt_parts)} differ from record {ref.id}'s correct "
                                     f"answer {list(ref.extra['record'].gt_parts)}: its masks would be scored "
                                     f"against other parts.")
            self.by_record[ref.id] = j

    @staticmethod
    def _match(p: dict[str, Any], candidates: list[SampleRef], where: str) -> SampleRef | None:
        path = _parts(p["image_path"])
        found = [r for r in candidates if _same_file(path, _parts(r.extra["record"].image_path))]
        questions = p.get("questions")
        if len(found) > 1 and isinstance(questions, list):
            found = [r for r in found if r.extra["record"].question in questions] or found
        if len(found) > 1 and isinstance(p.get("gt_parts"), list):
            found = [r for r in found if r.extra["record"].gt_parts == tuple(p["gt_parts"])] or found
        if len(found) > 1:
            raise PartbenchError(f"{where}: matches {len(found)} records ({', '.join(r.id for r in found[:4])}) by "
                                 f"image, question type, question and gt_parts; cannot tell which it answers.")
        return found[0] if found else None

    def has(self, ref: SampleRef) -> bool:
        return ref.id in self.by_record

    def read(self, sample: PartonomySample) -> PartMasks:
        j = self.by_record[sample.id]
        p, where = self.entries[j], f"{self.path}: predictions[{j}]"
        rles = p.get("predicted_masks") or []
        if not isinstance(rles, list):
            raise PartbenchError(f"{where}: predicted_masks must be a list of RLE masks.")
        masks = [decode_rle(r, f"{where}.predicted_masks[{k}]") for k, r in enumerate(rles)]
        if len({m.shape for m in masks}) > 1:
            raise PartbenchError(f"{where}: predicted masks have different sizes {sorted({m.shape for m in masks})}.")
        chosen = p.get("predicted_parts_answer")
        stacked = np.stack(masks) if masks else np.zeros((0, *sample.size), dtype=bool)
        return PartMasks(stacked, chosen if isinstance(chosen, str) else None)

    def describe(self, sample: PartonomySample) -> str:
        return f"{self.path}: predictions[{self.by_record.get(sample.id, '?')}]"


class MaskFolder:
    """`<id>/<k>.png` or `<id>.json` per record."""

    def __init__(self, path: Path):
        self.path = path

    def has(self, ref: SampleRef) -> bool:
        return (self.path / f"{ref.id}.json").is_file() or (self.path / ref.id / "0.png").is_file()

    def read(self, sample: PartonomySample) -> PartMasks:
        from PIL import Image

        if (self.path / f"{sample.id}.json").is_file():
            return decode_file(self.path / f"{sample.id}.json")
        masks, k = [], 0
        while (self.path / sample.id / f"{k}.png").is_file():
            png = self.path / sample.id / f"{k}.png"
            try:
                with Image.open(png) as im:
                    if im.format != "PNG":
                        raise PartbenchError(f"{png}: a file named .png must be a PNG, not {im.format}.")
                    masks.append(np.asarray(im.convert("L")) > 0)
            except OSError as e:
                raise PartbenchError(f"{png}: cannot read mask ({e}).") from None
            k += 1
        return PartMasks(np.stack(masks) if masks else np.zeros((0, *sample.size), dtype=bool))

    def describe(self, sample: PartonomySample) -> str:
        json_file = self.path / f"{sample.id}.json"
        return str(json_file if json_file.is_file() else self.path / sample.id)


class SavedPartMasks:
    """`partbench score`'s source for part-reasoning suites; records without a prediction are empty if allowed."""

    def __init__(self, path: Path, work: Work, allow_missing: bool):
        from partbench.tasks.base import check_coverage

        path = Path(path)
        if path.is_file() and path.suffix == ".json":
            self.source: PartonomyPredictions | MaskFolder = PartonomyPredictions(path, work.items)
        elif path.is_dir():
            self.source = MaskFolder(path)
        else:
            raise PartbenchError(f"{path}: expected Partonomy's predictions JSON or a folder of <record id>/<k>.png "
                                 f"masks.")
        missing = [r.id for r in work.items if not self.source.has(r)]
        unmatched = [f"predictions[{j}]" for j in getattr(self.source, "unmatched", [])]
        check_coverage(path, len(work.items), missing, unmatched, allow_missing, unit="records",
                       empty="predicting no mask")
        self.n_missing = len(missing)
        self._missing = set(missing)

    def read(self, sample: PartonomySample) -> PartMasks:
        if sample.id in self._missing:
            return PartMasks(np.zeros((0, *sample.size), dtype=bool))
        return self.source.read(sample)

    def describe(self, sample: PartonomySample) -> str:
        return self.source.describe(sample)
