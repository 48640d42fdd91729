"""The `demo-partonomy` suite's data: Partonomy-style part questions over the demo suite's val images, in the
released Partonomy layout (`partonomy_qa_pairs.json` + `images/`), so the real reader reads it and part-reasoning
runs and tests need no download.

Per demo val image and object class with parts (a demo sample), with the object's visible parts sorted
alphabetically as Partonomy sorts them:
- `identification_with_label`: its visible parts;
- `positive_with_label` / `negative_with_label` against another demo object (one sharing some part phrases and, when
  one exists, lacking others): the shared visible parts, and the visible parts the other lacks (the latter only when
  both are non-empty, as upstream generates it);
- `whole_to_part` or `part_to_whole` (alternating by the image's RNG), with the object question and its choices.
Four distractor answers per question come from add / delete / replace mutations of the correct part list, as
Partonomy's answer mutations do. Part labels are `<object>--part:<part>`; each label's annotations are its mask's
connected components as compressed COCO RLE, so the reader ORs several annotations per label. Deterministic for a
seed; `manifest.json` is written last (its counts are what `data verify` checks).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from partbench.data.generated_manifest import MANIFEST, generation_is_complete, write_manifest
from partbench.errors import DataNotFoundError, PartbenchError
from partbench.store.atomic import atomic_write_text

GENERATOR_VERSION = 1
SUITE_NAME = "demo-partonomy"
N_CHOICES = 5


def _label(obj: str, part: str) -> str:
    return f"{obj}--part:{part}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _listing(parts: list[str]) -> str:
    """'a', 'a and b', 'a, b, and c' (Partonomy's `_build_part_str`)."""
    if len(parts) < 3:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def _rles(mask: np.ndarray) -> list[dict[str, Any]]:
    """One compressed RLE per connected component (several annotations of one label, OR-ed by the reader)."""
    from pycocotools import mask as mask_utils
    from scipy import ndimage

    components, n = ndimage.label(mask)
    out = []
    for k in range(1, n + 1):
        rle = mask_utils.encode(np.asfortranarray((components == k).astype(np.uint8)))
        out.append({"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")})
    return out


def _distractors(rng: np.random.Generator, correct: list[str], pool: list[str]) -> list[list[str]]:
    """Up to four other part lists: add a part, delete one, or replace one (each list sorted, all distinct)."""
    seen, out = {tuple(correct)}, []
    others = [p for p in pool if p not in correct]
    for _ in range(200):
        if len(out) == N_CHOICES - 1:
            break
        op = rng.choice(["add", "delete", "replace"])
        parts = list(correct)
        if op == "add" and others:
            parts.append(others[rng.integers(len(others))])
        elif op == "delete" and len(parts) > 1:
            parts.pop(int(rng.integers(len(parts))))
        elif op == "replace" and others:
            parts[int(rng.integers(len(parts)))] = others[rng.integers(len(others))]
        parts = sorted(set(parts))
        if parts and tuple(parts) not in seen:
            seen.add(tuple(parts))
            out.append(parts)
    return out


def _choices(rng: np.random.Generator, obj: str, correct: list[str], pool: list[str], text: str) -> dict[str, Any]:
    lists = [correct, *_distractors(rng, correct, pool)]
    order = rng.permutation(len(lists))
    lists = [lists[i] for i in order]
    return {"answer_choices": [text.format(parts=_listing(p)) for p in lists],
            "answer_types": ["correct" if i == 0 else "incorrect" for i in order],
            "answer_parts": [[_label(obj, p) for p in ps] for ps in lists]}


def _object_question(rng: np.random.Generator, obj: str, objects: list[str]) -> dict[str, Any]:
    others = [o for o in objects if o != obj]
    picked = [obj, *[others[i] for i in rng.permutation(len(others))[:N_CHOICES - 1]]]
    picked = [picked[i] for i in rng.permutation(len(picked))]
    return {"object_question": "What is the object in the image?",
            "object_answer_choices": [f"It is {_article(o)} {o}." for o in picked],
            "object_answer_types": ["correct" if o == obj else "incorrect" for o in picked],
            "object_answer_classes": picked}


def records_for(rng: np.random.Generator, image_path: str, obj: str, visible: list[str],
                parts_of: dict[str, list[str]], segmentations: dict[str, Any]) -> list[dict[str, Any]]:
    """The QA records of one (image, object): see the module docstring."""
    pool = sorted({p for ps in parts_of.values() for p in ps})
    base = {"image_path": image_path, "image_label": obj, "segmentations": segmentations, "object_question": None,
            "object_answer_choices": None, "object_answer_types": None, "object_answer_classes": None}
    out = [base | {"question_type": "identification_with_label",
                   "question": f"What visible parts does the {obj} in the image have?"}
           | _choices(rng, obj, visible, pool, f"The {obj} in the image has the following visible parts: {{parts}}.")]
    others = [o for o in parts_of if o != obj and set(visible) & set(parts_of[o])]
    both = [o for o in others if set(visible) - set(parts_of[o])]
    if others:
        other = (both or others)[int(rng.integers(len(both or others)))]
        shared = [p for p in visible if p in parts_of[other]]
        a = f"{_article(other)} {other}"
        out.append(base | {"question_type": "positive_with_label",
                           "question": f"What parts does the {obj} in the image have in common with {a}?"}
                   | _choices(rng, obj, shared, pool, f"The {obj} in the image has these parts in common with {a}: "
                                                      f"{{parts}}."))
        lacking = [p for p in visible if p not in parts_of[other]]
        if lacking:
            out.append(base | {"question_type": "negative_with_label",
                               "question": f"What visible parts does the {obj} in the image have which {a} does "
                                           f"not have?"}
                       | _choices(rng, obj, lacking, pool, f"The {obj} in the image has these parts that {a} does "
                                                           f"not have: {{parts}}."))
    qtype = "whole_to_part" if rng.integers(2) == 0 else "part_to_whole"
    question = (f"What visible parts does the {obj} have?" if qtype == "whole_to_part"
                else "What visible parts does the object in the image have?")
    out.append(base | {"question_type": qtype, "question": question}
               | _choices(rng, obj, visible, pool, "It has the following visible parts: {parts}.")
               | _object_question(rng, obj, sorted(parts_of)))
    return out


def generate_demo_partonomy(data_root: Path, seed: int = 0, n_images: int = 40) -> dict[str, Any]:
    """Write the suite's folder under `data_root` from the demo's val images (which must be generated) and return
    the manifest."""
    from partbench.data.demo import demo_is_complete
    from partbench.suites import load_suite, object_of, part_of

    if not isinstance(n_images, int) or n_images < 1:
        raise PartbenchError(f"demo-partonomy: the number of images must be a positive integer, not {n_images!r}.")
    demo, suite = load_suite("demo"), load_suite(SUITE_NAME)
    demo_dir = demo.dataset_path(data_root)
    if not demo_is_complete(demo_dir):
        raise DataNotFoundError(f"demo-partonomy is built from the demo suite's images: run `partbench data "
                                f"generate demo` first (expected at {demo_dir}).")
    out = suite.dataset_path(data_root)
    (out / MANIFEST).unlink(missing_ok=True)  # incomplete until the new manifest is written
    reader = demo.make_reader(data_root)
    refs = reader.index("val").refs
    parts_of = {o: [part_of(demo.classes[k]) for k in demo.part_ids_of(o)] for o in demo.object_classes
                if demo.part_ids_of(o)}
    image_ids = list(dict.fromkeys(r.image_id for r in refs))[:n_images]
    records, used = [], []
    for i, image_id in enumerate(image_ids):
        image_path = f"images/{image_id}.jpg"
        before = len(records)
        for ref in (r for r in refs if r.image_id == image_id):
            sample = reader.load(ref)
            obj = ref.object_class
            visible = {part_of(demo.classes[k]): sample.part_label_map == k for k in demo.part_ids_of(obj)
                       if object_of(demo.classes[k]) == obj and np.any(sample.part_label_map == k)}
            if not visible:
                continue
            segs = {_label(obj, p): _rles(m) for p, m in sorted(visible.items())}
            rng = np.random.default_rng([seed, i, demo.object_classes.index(obj)])
            records += records_for(rng, image_path, obj, sorted(visible), parts_of, segs)
        if len(records) > before:
            used.append(image_id)
            (out / "images").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(reader.paths("val", image_id)[0], out / image_path)
    for stale in (out / "images").glob("*.jpg") if (out / "images").is_dir() else ():
        if stale.stem not in used:  # left by an earlier, larger generation
            stale.unlink()
    atomic_write_text(out / "partonomy_qa_pairs.json", json.dumps(records))
    return write_manifest(out, "partbench.data.demo_partonomy", GENERATOR_VERSION, seed, n_images,
                          source={"suite": demo.name, "suite_version": demo.version,
                                  "class_list_hash": demo.class_list_hash},
                          splits={"val": {"images": len(used), "samples": len(records)}})


def demo_partonomy_is_complete(data_root: Path, seed: int = 0, n_images: int | None = None) -> bool:
    """A finished generation by this generator version, for this seed (and number of images, if given)."""
    from partbench.suites import load_suite

    return generation_is_complete(load_suite(SUITE_NAME).dataset_path(data_root), GENERATOR_VERSION, seed, n_images,
                                  "partonomy_qa_pairs.json")
