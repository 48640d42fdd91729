"""The fine-grained Pascal-Part class list, built from `part_names.json` (no numpy: suites load it for `partbench
table`).

`part_names.json` (pascal-part-and-t2i-eval.md §A.3) maps each object, as the .mat files spell it (`table`, not
`diningtable`), to `{part_name abbreviation: phrase}`, e.g. `lfleg` → `left front leg`, `engine_3` → `engine`.
Classes are `"<object>'s <phrase>"` in the file's object and part order; enumerated duplicates (`engine_1..10`,
`window_1..20`, `coach_3`) share one phrase and therefore merge into one class (`aeroplane's engine`). Left/right
words are kept, so the suite loader finds mirrored pairs (`person's left lower arm` / `person's right lower arm`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

PART_NAMES_FILE = Path(__file__).resolve().parent.parent / "suites" / "classes" / "pascal_part_names.json"
_ENUMERATED = re.compile(r"_\d+$")


@cache
def part_names(path: Path = PART_NAMES_FILE) -> dict[str, dict[str, str]]:
    from partbench.errors import PartbenchError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise PartbenchError(f"{path}: cannot read the Pascal-Part part names ({e}).") from None
    return data


def class_name(object_class: str, abbreviation: str) -> str | None:
    """`("person", "llarm")` -> `"person's left lower arm"`; None for an abbreviation the object does not have."""
    phrase = part_names().get(object_class, {}).get(abbreviation)
    return None if phrase is None else f"{object_class}'s {phrase}"


def base_abbreviation(abbreviation: str) -> str:
    """`window_12` -> `window` (for messages and statistics; the merge itself goes through the phrase)."""
    return _ENUMERATED.sub("", abbreviation)


def fine_grained_classes() -> dict:
    """The suite's class spec: `classes`, `object_classes` (the 20 .mat class strings, in `class_ind` order)."""
    names = part_names()
    classes = [f"{obj}'s {phrase}" for obj, parts in names.items() for phrase in parts.values()]
    return {"classes": list(dict.fromkeys(classes)), "object_classes": list(names)}
