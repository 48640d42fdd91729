"""The `demo-edit` suite's data: part edits over the demo suite's val images, with the intended result known, written
in the part-editing layout (`partbench.data.part_edit`) so the PartEdit-Bench reader reads it and runs and tests need
no download.

Per demo val image and object class with its edited part visible on at least `MIN_PART_PIXELS` pixels (the head of
figures, robots, cows and horses; the body of cars and buses), one sample: the edit "paint the <object>'s <part>
<colour>", its part mask (that part's annotated pixels, every instance of the object in the image), and the expected
result: the source with exactly those pixels set to the colour (a flat fill, so that the intended edit is defined to
the pixel and an `oracle` editor exists). The colour is drawn per sample from `COLOURS`, away from the part's own
mean colour, with an RNG seeded from (seed, image index, object id). Prompts follow PartEdit-Bench's fields:
`prompt_changed` is `prompt_original` with `subject` replaced by `edit`, and three instruction phrasings fill
`instructp2p_edit1..3`. Sources are stored as PNG (the demo's JPEGs decoded once), so an unedited copy is exact.
Deterministic for a seed; `manifest.json` is written last.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from partbench.data.generated_manifest import MANIFEST, generation_is_complete, write_manifest
from partbench.errors import DataNotFoundError, PartbenchError
from partbench.store.atomic import atomic_write_bytes, atomic_write_text

GENERATOR_VERSION = 1
SUITE_NAME = "demo-edit"
SPLIT = "val"
MIN_PART_PIXELS = 25  # smaller parts are a few pixels of a head: an edit no one could judge
EDITED_PART = {"figure": "head", "robot": "head", "cow": "head", "horse": "head", "car": "body", "bus": "body"}
COLOURS = {"red": (220, 40, 40), "blue": (40, 80, 220), "green": (40, 170, 60), "yellow": (240, 210, 40),
           "purple": (140, 60, 180), "orange": (245, 140, 30)}
MIN_COLOUR_DISTANCE = 80.0  # RGB distance from the part's mean colour: the edit must be visible


def _png(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _colour(rng: np.random.Generator, mean: np.ndarray) -> str:
    far = [n for n, c in COLOURS.items() if np.linalg.norm(np.asarray(c, float) - mean) >= MIN_COLOUR_DISTANCE]
    names = far or list(COLOURS)
    return names[int(rng.integers(len(names)))]


def edit_record(n: int, sample_id: str, obj: str, part: str, colour: str) -> dict[str, Any]:
    """The layout line of one edit (PartEdit-Bench's fields; see the module docstring)."""
    source = f"a picture of a {obj}"
    edit = f"{obj} with a {colour} {part}"
    return {"sample_id": sample_id, "id": n, "subject": obj, "edit": edit, "part": part, "class_name": obj,
            "prompt_original": source, "prompt_changed": source.replace(obj, edit, 1),
            "p2p_prompt": None, "p2p_template": None,
            "instructp2p_edit1": f"paint the {obj}'s {part} {colour}",
            "instructp2p_edit2": f"make the {obj}'s {part} {colour}",
            "instructp2p_edit3": f"change the colour of the {obj}'s {part} to {colour}",
            "seed": None, "image": f"images/{SPLIT}/{sample_id}.png", "mask": f"masks/{SPLIT}/{sample_id}.png",
            "expected": f"expected/{SPLIT}/{sample_id}.png"}


def generate_demo_edit(data_root: Path, seed: int = 0, n_images: int = 40) -> dict[str, Any]:
    """Write the suite's folder under `data_root` from the demo's val images (which must be generated) and return
    the manifest."""
    from partbench.data.demo import demo_is_complete
    from partbench.suites import load_suite

    if not isinstance(n_images, int) or isinstance(n_images, bool) or n_images < 1:
        raise PartbenchError(f"demo-edit: the number of images must be a positive integer, not {n_images!r}.")
    demo, suite = load_suite("demo"), load_suite(SUITE_NAME)
    if not demo_is_complete(demo.dataset_path(data_root)):
        raise DataNotFoundError(f"demo-edit is built from the demo suite's images: run `partbench data generate demo` "
                                f"first (expected at {demo.dataset_path(data_root)}).")
    out = suite.dataset_path(data_root)
    (out / MANIFEST).unlink(missing_ok=True)  # incomplete until the new manifest is written
    for sub in ("images", "masks", "expected"):
        shutil.rmtree(out / sub, ignore_errors=True)  # files of an earlier, larger generation
    reader = demo.make_reader(data_root)
    refs = reader.index(SPLIT).refs
    image_ids = list(dict.fromkeys(r.image_id for r in refs))[:n_images]
    records: list[dict[str, Any]] = []
    for i, image_id in enumerate(image_ids):
        for ref in (r for r in refs if r.image_id == image_id and r.object_class in EDITED_PART):
            obj = str(ref.object_class)
            part = EDITED_PART[obj]
            sample = reader.load(ref)
            mask = sample.part_label_map == demo.classes.index(f"{obj}'s {part}")
            if mask.sum() < MIN_PART_PIXELS:
                continue
            image = np.ascontiguousarray(sample.image)
            rng = np.random.default_rng([seed, i, demo.object_classes.index(obj)])
            colour = _colour(rng, image[mask].astype(np.float64).mean(axis=0))
            expected = image.copy()
            expected[mask] = COLOURS[colour]
            record = edit_record(len(records), f"{image_id}__{obj}", obj, part, colour)
            atomic_write_bytes(out / record["image"], _png(image))
            atomic_write_bytes(out / record["mask"], _png(mask.astype(np.uint8) * 255))
            atomic_write_bytes(out / record["expected"], _png(expected))
            records.append(record)
    atomic_write_text(out / f"{SPLIT}.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    return write_manifest(out, "partbench.data.demo_edit", GENERATOR_VERSION, seed, n_images,
                          source={"suite": demo.name, "suite_version": demo.version},
                          splits={SPLIT: {"images": len(records), "samples": len(records)}})


def demo_edit_is_complete(data_root: Path, seed: int = 0, n_images: int | None = None) -> bool:
    """A finished generation by this generator version, for this seed (and number of images, if given)."""
    from partbench.suites import load_suite

    return generation_is_complete(load_suite(SUITE_NAME).dataset_path(data_root), GENERATOR_VERSION, seed, n_images,
                                  f"{SPLIT}.jsonl")
