"""Part-editing runs as user-study material: per sample the run's edited image, the source it was made from (read
from the suite's data, which runs do not copy) and the instruction shown to raters.

The question follows PartEdit's user study (Cvejic et al. 2025, appendix H: raters were shown the original image
and two edits and asked to "select the method that changes ONLY the part specified by PART and keeps the rest of the
image unchanged"); the page names the part and the instruction above each pair.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError

EDIT_QUESTION = ("Which edit changes ONLY the named part, as the instruction says, and keeps the rest of the image "
                 "unchanged?")
TASK = "part-editing"


def instruction_of(record) -> str:
    """The text raters read: the first instruction phrasing ("paint the cow's head blue"), else the edit prompt."""
    return record.instructions[0] if record.instructions else record.edit_prompt


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise PartbenchError(f"{path}: not a readable image ({e}).") from None


def read_edit_run(run_dir: Path, results: dict[str, Any], data_root: Path | None) -> dict[str, Any]:
    """The fields of a `RunImages` for a finished part-editing run: `images` (sample id -> edited image), `prompts`
    (sample id -> {prompt: the instruction, part, object}) and `sources` (sample id -> source image in the suite's
    data under `data_root`). A source of another size than its edit means other data than the run's: refused."""
    from partbench.data.root import resolve_data_root
    from partbench.suites import load_suite

    suite = load_suite(results["suite"])
    root = resolve_data_root(data_root)
    reader = suite.make_reader(root)
    split = results.get("split") or suite.default_split
    try:
        reader.check(split)
        records = {r.sample_id: r for r in reader.records(split)}
    except PartbenchError as e:
        raise PartbenchError(f"{run_dir}: a part-editing pack shows each edit's source, read from the suite's data; "
                             f"{e} Pass --data-root.") from None
    images, prompts, sources = {}, {}, {}
    samples = run_dir / "samples.jsonl"
    for lineno, line in enumerate(samples.read_text(encoding="utf-8").splitlines(), 1):
        try:
            sample_id = json.loads(line)["id"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise PartbenchError(f"{samples}:{lineno}: not a part-editing row ({e}).") from None
        record = records.get(sample_id)
        if record is None:
            raise PartbenchError(f"{samples}:{lineno}: sample {sample_id} is not in {suite.name}'s data under {root}; "
                                 "pass the --data-root the run was made from.")
        edited, source = run_dir / "predictions" / f"{sample_id}.png", reader.root / record.files["image"]
        if not edited.is_file():
            raise PartbenchError(f"{edited}: listed in {samples} but missing.")
        if _size(edited) != _size(source):
            raise PartbenchError(f"{edited} is {_size(edited)} but its source {source} is {_size(source)}: the data "
                                 f"under {root} is not the data the run edited; pass its --data-root.")
        images[sample_id], sources[sample_id] = edited, source
        prompts[sample_id] = {"prompt": instruction_of(record), "part": record.part, "object": record.class_name}
    return {"images": images, "prompts": prompts, "sources": sources}
