"""Prompt lists of generation suites: the deterministic builder, the shipped JSONL files, and their loader.

A generation suite's data is its prompt list. It is built once from a seed and shipped as versioned JSONL
(`partbench/suites/prompts/<suite>.jsonl`), so everyone evaluates the same prompts whatever their Python version;
`python -m partbench.data.prompts --check` rebuilds every list and fails if a shipped file differs.

Each prompt reads `a photo of a {class name}, with {instruction}` (the PartConcepts protocol; its exact instruction
strings are unpublished, so the templates used here are recorded in every record): a Pascal-Part object class with
its natural name, one of its parts (numbered duplicates such as `engine_1..engine_10` collapsed to one phrase), and an
instruction template filled with an attribute (colour, pattern or material), all drawn with `random.Random(seed)`,
whose sequence is stable across Python versions.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from partbench.api.types import PromptItem
from partbench.errors import PartbenchError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "suites" / "prompts"
CLASSES_DIR = Path(__file__).resolve().parent.parent / "suites" / "classes"
PASCAL_PART_NAMES = CLASSES_DIR / "pascal_part_names.json"
PROMPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # becomes a folder name: keep it filesystem-safe

# Pascal VOC class keys whose natural name differs (notes §E.3).
NATURAL_NAMES = {"pottedplant": "potted plant", "tvmonitor": "tv monitor", "table": "dining table",
                 "diningtable": "dining table", "motorbike": "motorbike", "aeroplane": "aeroplane"}
# GenEval's colour list, so colour words are ones detectors and CLIP know well.
COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
PATTERNS = ("stripes", "polka dots", "checks", "zigzags")
MATERIALS = ("gold", "silver", "glass", "wood", "marble", "stone", "wool", "leather")


@dataclass(frozen=True)
class InstructionTemplate:
    id: str
    text: str  # with {part} and the attribute slots it names

    def fill(self, part: str, rng: random.Random) -> tuple[str, str, dict[str, str]]:
        """(instruction, attribute, slot values) for `part`."""
        slots: dict[str, str] = {}
        if "{color}" in self.text:
            slots["color"] = rng.choice(COLORS)
        if "{pattern}" in self.text:
            slots["pattern"] = rng.choice(PATTERNS)
        if "{material}" in self.text:
            slots["material"] = rng.choice(MATERIALS)
        attribute = " ".join(slots[k] for k in ("color", "pattern", "material") if k in slots)
        return self.text.format(part=part, **slots), attribute, slots


TEMPLATES = (
    InstructionTemplate("stain", "its {part} stained with {color}"),
    InstructionTemplate("paint", "its {part} painted {color}"),
    InstructionTemplate("pattern", "its {part} covered in {color} {pattern}"),
    InstructionTemplate("material", "its {part} made of {material}"),
)
PROMPT_TEMPLATE = "a photo of {article} {class_name}, with {instruction}"


def natural_name(class_key: str) -> str:
    return NATURAL_NAMES.get(class_key, class_key)


def collapse_parts(part_names: dict[str, str]) -> dict[str, str]:
    """Pascal-Part abbreviation -> phrase, one entry per phrase: `engine_1..engine_10` become `engine`."""
    out: dict[str, str] = {}
    for abbr, phrase in part_names.items():
        if phrase not in out.values():
            out[re.sub(r"_\d+$", "", abbr)] = phrase
    return out


def build_prompts(parts_by_class: dict[str, dict[str, str]], n: int, seed: int, id_prefix: str) -> list[dict[str, Any]]:
    """`n` distinct prompt records drawn with `random.Random(seed)`: class uniform over the classes that have
    parts, then a part of it, a template and the template's attributes (redrawn while a prompt repeats)."""
    classes = [c for c, parts in parts_by_class.items() if parts]
    if not classes:
        raise PartbenchError("no class has parts to build prompts from.")
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(records) < n:
        class_key = rng.choice(classes)
        abbr, phrase = rng.choice(list(parts_by_class[class_key].items()))
        template = rng.choice(TEMPLATES)
        instruction, attribute, slots = template.fill(phrase, rng)
        name = natural_name(class_key)
        prompt = PROMPT_TEMPLATE.format(article="an" if name[0] in "aeiou" else "a", class_name=name,
                                        instruction=instruction)
        if prompt in seen:
            continue
        seen.add(prompt)
        records.append({
            "prompt_id": f"{id_prefix}{len(records):04d}", "prompt": prompt, "class_mat": class_key,
            "class_name": name, "part_abbr": abbr, "part_phrase": phrase, "template_id": template.id,
            "template": template.text, "instruction": instruction, "attribute": attribute,
            "color": slots.get("color"), "pattern": slots.get("pattern"), "material": slots.get("material"),
            "seed": seed,
        })
    return records


def pascal_part_prompts(n: int = 500, seed: int = 0) -> list[dict[str, Any]]:
    raw = json.loads(PASCAL_PART_NAMES.read_text(encoding="utf-8"))
    return build_prompts({c: collapse_parts(parts) for c, parts in raw.items()}, n, seed, "p")


def demo_prompts(n: int = 8, seed: int = 0) -> list[dict[str, Any]]:
    """Prompts over the demo suite's objects (whose parts are plain phrases already)."""
    from partbench.suites import load_suite, part_of

    demo = load_suite("demo")
    parts = {o: {part_of(demo.classes[i]): part_of(demo.classes[i]) for i in ids}
             for o, ids in demo.parts_by_object.items()}
    return build_prompts(parts, n, seed, "demo-")


# The shipped lists and how each is built. Changing a builder or its arguments changes the prompts: bump the suite
# version in its YAML and regenerate with `python -m partbench.data.prompts --write`.
SHIPPED = {
    "t2i-part-prompts.jsonl": lambda: pascal_part_prompts(n=500, seed=0),
    "demo-t2i.jsonl": lambda: demo_prompts(n=8, seed=0),
}


def to_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def read_prompt_file(path: Path) -> list[PromptItem]:
    """Parse a prompt JSONL file; every problem names the file and line."""
    items: list[PromptItem] = []
    ids: set[str] = set()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise PartbenchError(f"{path}: cannot read prompt list ({e.strerror or e}).") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise PartbenchError(f"{where}: not valid JSON ({e.msg}).") from None
        if not isinstance(rec, dict):
            raise PartbenchError(f"{where}: each line must be a JSON object.")
        pid, prompt = rec.get("prompt_id"), rec.get("prompt")
        if not isinstance(pid, str) or not PROMPT_ID.match(pid):
            raise PartbenchError(f"{where}: prompt_id {pid!r} must be 1-64 letters, digits, '_' or '-' "
                                 "(it names the prompt's image folder).")
        if pid in ids:
            raise PartbenchError(f"{where}: duplicate prompt_id {pid!r}.")
        if not isinstance(prompt, str) or not prompt.strip():
            raise PartbenchError(f"{where}: 'prompt' must be a non-empty string.")
        ids.add(pid)
        items.append(PromptItem(id=pid, prompt=prompt, object_class=rec.get("class_name"),
                                part=rec.get("part_phrase"), attribute=rec.get("attribute"), meta=rec))
    if not items:
        raise PartbenchError(f"{path}: the prompt list is empty.")
    return items


def prompt_file(suite) -> Path:
    if suite.task != "generation" or not suite.prompts:
        raise PartbenchError(f"Suite {suite.name!r} is not a generation suite; it has no prompts.")
    # Relative to the `prompts/` folder beside the suite's YAML (partbench/suites/prompts/ for built-in suites).
    base = suite.source_file.parent / "prompts" if suite.source_file else PROMPTS_DIR
    return base / suite.prompts


def load_prompts(suite) -> list[PromptItem]:
    """The prompts of a generation suite, in file order."""
    return read_prompt_file(prompt_file(suite))


def image_file_name(prompt_id: str, k: int) -> str:
    """Where image `k` of a prompt lives inside an image folder (and a run's predictions/)."""
    return f"{prompt_id}/{k}.png"


def main(argv: list[str] | None = None) -> int:
    """`--check` (default): fail if a shipped list differs from its builder; `--write`: rewrite them."""
    argv = sys.argv[1:] if argv is None else argv
    write = "--write" in argv
    stale = []
    for name, build in SHIPPED.items():
        text, path = to_jsonl(build()), PROMPTS_DIR / name
        if write:
            from partbench.store.atomic import atomic_write_text

            atomic_write_text(path, text)
            print(f"wrote {path}")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(str(path))
    for s in stale:
        print(f"{s}: differs from its builder (run `python -m partbench.data.prompts --write` and bump the suite "
              "version)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
