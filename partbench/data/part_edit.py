"""Part-editing data (PartEdit-Bench prepared from its parquet files, and the generated `demo-edit`), one layout:

    <dataset_dir>/
      <split>.jsonl            one record per sample (below), in sample order
      images/<split>/<id>.png  the source image (RGB)
      masks/<split>/<id>.png   the part mask ('L'; non-zero = the part to edit)
      partedit/<split>/<id>.png  PartEdit's own output, where the release ships one
      expected/<split>/<id>.png  the intended edit, where it is known (demo-edit)

A record keeps PartEdit-Bench's field names for what the release has (`id`, `subject`, `edit`, `part`,
`class_name`, `prompt_original`, `prompt_changed`, `p2p_prompt`, `p2p_template`, `instructp2p_edit1..3`, `seed`,
`token_cls`) and adds `sample_id` (file-name safe; prediction files and cache keys use it) and the files (`image`,
`mask`, `partedit`, `expected`: paths relative to the dataset folder). `prompt_original`, `prompt_changed`, `part`,
`image` and `mask` are required; a malformed record is an error naming the file and line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.data.readers import SampleIndex, require_paths
from partbench.data.types import SampleRef
from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.data.completeness import Inventory
    from partbench.suites import Suite

REQUIRED_TEXT = ("prompt_original", "prompt_changed", "part")
OPTIONAL_TEXT = ("subject", "edit", "class_name", "p2p_prompt", "p2p_template", "token_cls")
INSTRUCTIONS = ("instructp2p_edit1", "instructp2p_edit2", "instructp2p_edit3")
FILES = ("image", "mask", "partedit", "expected")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class EditRecord:
    """One sample's text and files, checked."""

    sample_id: str
    source_prompt: str  # prompt_original
    edit_prompt: str  # prompt_changed
    part: str
    subject: str = ""
    edit: str = ""
    class_name: str = ""
    instructions: tuple[str, ...] = ()  # instructp2p_edit1..3, the instruction phrasings (empty ones dropped)
    p2p_prompt: str = ""
    p2p_template: str = ""
    token_cls: str | None = None
    source_id: int | None = None  # the release's `id`
    seed: int | None = None
    files: dict[str, str] = field(default_factory=dict)  # image, mask, [partedit], [expected]: relative paths

    def to_json(self) -> dict[str, Any]:
        """The record as a layout line (the release's field names)."""
        out: dict[str, Any] = {"sample_id": self.sample_id, "id": self.source_id, "prompt_original": self.source_prompt,
                               "prompt_changed": self.edit_prompt, "part": self.part, "subject": self.subject,
                               "edit": self.edit, "class_name": self.class_name, "p2p_prompt": self.p2p_prompt,
                               "p2p_template": self.p2p_template, "seed": self.seed}
        out |= {name: (self.instructions[i] if i < len(self.instructions) else "") for i, name in
                enumerate(INSTRUCTIONS)}
        if self.token_cls is not None:
            out["token_cls"] = self.token_cls
        return out | self.files


def parse_record(raw: Any, where: str) -> EditRecord:
    """A layout line as an `EditRecord`; anything malformed is a `PartbenchError` naming `where` (file:line)."""
    if not isinstance(raw, dict):
        raise PartbenchError(f"{where}: a record must be a JSON object, got {type(raw).__name__}.")
    sample_id = raw.get("sample_id")
    if not isinstance(sample_id, str) or not _SAFE_ID.match(sample_id):
        raise PartbenchError(f"{where}: sample_id must be a file-name-safe string (letters, digits, . _ -), got "
                             f"{sample_id!r}.")
    for key in (*REQUIRED_TEXT, "image", "mask"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise PartbenchError(f"{where}: {key!r} must be a non-empty string, got {raw.get(key)!r}.")
    for key in (*OPTIONAL_TEXT, *INSTRUCTIONS, "partedit", "expected"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise PartbenchError(f"{where}: {key!r} must be a string or null, got {raw[key]!r}.")
    for key in ("id", "seed"):
        if raw.get(key) is not None and (isinstance(raw[key], bool) or not isinstance(raw[key], int)):
            raise PartbenchError(f"{where}: {key!r} must be an integer or null, got {raw[key]!r}.")
    return EditRecord(
        sample_id=sample_id, source_prompt=raw["prompt_original"], edit_prompt=raw["prompt_changed"],
        part=raw["part"], subject=raw.get("subject") or "", edit=raw.get("edit") or "",
        class_name=raw.get("class_name") or "", instructions=tuple(raw[k] for k in INSTRUCTIONS if raw.get(k)),
        p2p_prompt=raw.get("p2p_prompt") or "", p2p_template=raw.get("p2p_template") or "",
        token_cls=raw.get("token_cls"), source_id=raw.get("id"), seed=raw.get("seed"),
        files={k: raw[k] for k in FILES if raw.get(k)})


def read_rgb(path: Path) -> np.ndarray:
    """H×W×3 uint8; an unreadable file is a `PartbenchError` naming it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as e:
        raise PartbenchError(f"{path}: cannot read image ({e}).") from None


def read_mask(path: Path) -> np.ndarray:
    """H×W bool, non-zero = the part."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L")) > 0
    except (OSError, ValueError) as e:
        raise PartbenchError(f"{path}: cannot read mask ({e}).") from None


@dataclass
class EditSample:
    """A loaded sample: its record, its part mask, and its images (decoded on first use, checked against the mask's
    size)."""

    ref: SampleRef
    record: EditRecord
    mask: np.ndarray  # H×W bool, True = the part to edit
    root: Path  # the dataset folder the record's files are relative to

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def size(self) -> tuple[int, int]:
        return int(self.mask.shape[0]), int(self.mask.shape[1])

    def path(self, what: str) -> Path | None:
        rel = self.record.files.get(what)
        return None if rel is None else self.root / rel

    def _read(self, what: str) -> np.ndarray | None:
        path = self.path(what)
        if path is None:
            return None
        arr = read_rgb(path)
        if arr.shape[:2] != self.size:
            raise PartbenchError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]} but the part mask is "
                                 f"{self.size[1]}x{self.size[0]} (sample {self.id}).")
        return arr

    @cached_property
    def image(self) -> np.ndarray:
        """The source image, H×W×3 uint8."""
        return self._read("image")  # type: ignore[return-value]  # required by parse_record

    @cached_property
    def expected(self) -> np.ndarray | None:
        """The intended edit, where the suite knows it (demo-edit)."""
        return self._read("expected")


class PartEditReader:
    """`<dataset_dir>/<split>.jsonl` and the files its records name (module docstring)."""

    def __init__(self, suite: Suite, data_root: Path):
        self.suite = suite
        self.root = suite.dataset_path(data_root)
        self._records: dict[str, list[EditRecord]] = {}

    def records_path(self, split: str) -> Path:
        return self.root / f"{split}.jsonl"

    def check(self, split: str) -> None:
        require_paths(self.suite, self.root, split, [self.records_path(split)])

    def release(self) -> dict[str, Any] | None:
        """What `data prepare` recorded about a prepared release (dataset, revision, token_cls); None otherwise."""
        from partbench.data.partedit_parquet import read_release

        return read_release(self.root)

    def records(self, split: str) -> list[EditRecord]:
        if split not in self._records:
            path = self.records_path(split)
            out, seen = [], set()
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as e:
                    raise PartbenchError(f"{path}:{n}: not valid JSON ({e.msg}).") from None
                record = parse_record(raw, f"{path}:{n}")
                if record.sample_id in seen:
                    raise PartbenchError(f"{path}:{n}: sample_id {record.sample_id!r} is used twice.")
                seen.add(record.sample_id)
                out.append(record)
            self._records[split] = out
        return self._records[split]

    def index(self, split: str) -> SampleIndex:
        """The records in file order, less those naming a file that is not there: like an image without its
        annotation in a segmentation suite, such a sample is left out and counted (`missing_files`), and `inventory`
        names each missing file, so that `run` refuses the split unless `--allow-incomplete-data`."""
        self.check(split)
        refs, missing = [], 0
        for r in self.records(split):
            if self._missing(r):
                missing += 1
                continue
            refs.append(SampleRef(id=r.sample_id, image_id=r.sample_id, image_path=self.root / r.files["image"],
                                  object_class=r.class_name or None, extra={"split": split, "record": r}))
        return SampleIndex(refs=refs, skipped={"missing_files": missing})

    def _missing(self, record: EditRecord) -> list[Path]:
        """The files `record` names that are not on disk."""
        return [self.root / rel for rel in record.files.values() if not (self.root / rel).is_file()]

    def annotation_files(self, split: str) -> list[Path]:
        return [self.records_path(split)] + [self.root / r.files["mask"] for r in self.records(split)]

    def input_files(self, ref: SampleRef) -> list[Path]:
        record: EditRecord = ref.extra["record"]
        return [self.records_path(ref.extra["split"])] + [self.root / record.files[k] for k in FILES
                                                         if k in record.files]

    def inventory(self, split: str) -> Inventory:
        """Samples whose every named file exists (`images`), and each missing file."""
        from partbench.data.completeness import Inventory

        problems, complete = [], 0
        for r in self.records(split):
            missing = self._missing(r)
            problems += [f"{p}: missing (named by {self.records_path(split).name}, sample {r.sample_id})"
                         for p in missing]
            complete += not missing
        return Inventory(counts={"images": complete}, problems=problems)

    def load(self, ref: SampleRef) -> EditSample:
        record: EditRecord = ref.extra["record"]
        mask_path = self.root / record.files["mask"]
        if not mask_path.is_file():
            raise PartbenchError(f"{mask_path}: part mask missing (sample {ref.id}).")
        return EditSample(ref=ref, record=record, mask=read_mask(mask_path), root=self.root)

    def check_sample(self, sample: EditSample) -> list[str]:
        """`data verify`: every image decodes at the mask's size, and the mask has both part and background."""
        problems = []
        try:
            for what in ("image", "expected"):  # PartEdit's own outputs may have another size (partedit-outputs)
                sample._read(what)
        except PartbenchError as e:
            problems.append(str(e))
        if not sample.mask.any() or sample.mask.all():
            problems.append(f"{sample.path('mask')}: the part mask is {'empty' if not sample.mask.any() else 'full'} "
                            f"(sample {sample.id}); it is skipped when scored.")
        return problems
