"""`partbench userstudy export`: a self-contained two-alternative (A/B) user-study pack from generation runs, or from
part-editing runs (each item then also shows the source image, the part and the instruction; `edit_runs.py`).

```
OUT/
  pack/                 the only folder raters see: host it anywhere static (or open index.html from disk)
    index.html          the study page (no external requests); answers are downloaded as a JSON file at the end
    images/<item>-{1,2}.png   the two images of each item (edit packs: <item>-0.png the source), named so that the
                        name does not reveal the method, and
                        re-encoded as bare PNGs (no text, time, EXIF or colour-profile chunks, which can name the
                        generator or its settings)
    manifest.json       public: pack id, question, number of items, URL parameters
  items.csv             crowd-platform input (Input.* columns), one row per item
  key.json              PRIVATE: which side is which method, gold answers, runs and seed; never put it in pack/
```
The first run is the reference, compared with each of the others (the paper compares its method with each
baseline). Items, their order and left/right sides are drawn from the seed, so re-exporting with the same seed gives
a byte-identical pack. Quality control: gold items (the prompt's reference image against a blank grey image, which
cannot apply any instruction) and one repeated item with swapped sides (consistency). The completion code is not
in the page: the page derives it from the answers when the study ends (see completion.py), and `analyze` checks it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError
from partbench.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from partbench.userstudy.completion import CODE_SCHEME, completion_salt
from partbench.userstudy.edit_runs import EDIT_QUESTION

PACK_SCHEMA = 1
QUESTION = "Which image applies the instruction to the correct part?"
BLANK_GREY = (153, 153, 153)  # GenEval's #999 fill
DEFAULT_SUBMIT_TEXT = ("To submit: click \u201cDownload answers\u201d, keep the file, and send it to the researcher as "
                       "the study description explains (upload link or e-mail). If a completion code is shown below, "
                       "enter it where the study asks for it (on Prolific, paste it or use the return link).")
# The only chunks a pack image keeps: what draws the pixels. Everything else (tEXt/zTXt/iTXt, tIME, eXIf, iCCP,
# pHYs...) is metadata that may name the method, the prompt or the date and so unblind the rater.
PNG_IMAGE_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})


@dataclass(frozen=True)
class RunImages:
    """A generation run's first image (k = 0) per prompt, with the prompt texts; or a part-editing run's edit per
    sample (keyed like prompts), with the instruction as the prompt and the source images."""

    label: str
    path: Path
    suite: str
    suite_version: str
    method: str
    images: dict[str, Path]  # prompt id -> image file
    prompts: dict[str, dict[str, Any]]  # prompt id -> {prompt, part, object}
    task: str = "generation"
    sources: dict[str, Path] = field(default_factory=dict)  # part-editing: sample id -> source image

    @classmethod
    def read(cls, run_dir: Path, data_root: Path | None = None) -> RunImages:
        from partbench.store.atomic import read_json
        from partbench.userstudy.edit_runs import TASK as EDITING
        from partbench.userstudy.edit_runs import read_edit_run

        run_dir = Path(run_dir)
        results_path = run_dir / "results.json"
        if not results_path.is_file():
            raise PartbenchError(f"{run_dir}: no results.json; pass a finished generation or part-editing run "
                                 "directory (runs/<suite>/<method>[@args]).")
        results = read_json(results_path)
        head = {"label": results.get("run_name") or run_dir.name, "path": run_dir, "suite": results["suite"],
                "suite_version": str(results.get("suite_version")), "method": results["method"]}
        if results.get("task") == EDITING:
            return cls(**head, task=EDITING, **read_edit_run(run_dir, results, data_root))
        if results.get("task") != "generation":
            raise PartbenchError(f"{results_path}: not a generation or part-editing run (task "
                                 f"{results.get('task')!r}).")
        images, prompts = {}, {}
        samples = run_dir / "samples.jsonl"
        for lineno, line in enumerate(samples.read_text(encoding="utf-8").splitlines(), 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise PartbenchError(f"{samples}:{lineno}: not valid JSON ({e.msg}).") from None
            if row.get("k") != 0:
                continue
            image = run_dir / row["file"]
            if not image.is_file():
                raise PartbenchError(f"{image}: listed in {samples} but missing.")
            images[row["prompt_id"]] = image
            prompts[row["prompt_id"]] = {"prompt": row.get("prompt", ""), "part": row.get("part"),
                                         "object": row.get("object")}
        return cls(**head, images=images, prompts=prompts)


@dataclass
class ExportOptions:
    runs: list[Path]
    out: Path
    items: int | None = None  # real comparisons per baseline (None: every shared prompt)
    raters_per_item: int = 5
    gold: int = 2
    seed: int = 0
    completion_code: bool = True  # show a code derived from the answers at the end (see completion.py)
    title: str = "Image comparison study"
    submit_text: str | None = None  # how to submit, shown on the end page (None: DEFAULT_SUBMIT_TEXT)
    allow_different_sizes: bool = False  # pair images of different pixel sizes (refused by default)
    data_root: Path | None = None  # part-editing runs: where the suite's sources are (None: the default data root)


@dataclass
class PackItem:
    item_id: str
    kind: str  # "real" | "gold" | "repeat"
    prompt_id: str
    prompt: str
    left: str  # run label, or "blank" for gold items
    right: str
    baseline: str | None = None
    gold_answer: str | None = None  # "left" | "right" for gold items
    repeat_of: str | None = None
    files: dict[str, Path] = field(default_factory=dict)  # side -> source image (None for blank)
    source: Path | None = None  # part-editing: the image both sides edited
    part: str | None = None  # part-editing: the part the instruction names


def _draw_items(ref: RunImages, others: list[RunImages], opts: ExportOptions, rng: random.Random) -> list[PackItem]:
    items: list[PackItem] = []
    for other in others:
        shared = sorted(set(ref.images) & set(other.images))
        if not shared:
            raise PartbenchError(f"{ref.path} and {other.path} share no prompt; compare runs of the same suite.")
        chosen = sorted(rng.sample(shared, min(opts.items or len(shared), len(shared))))
        # Balanced sides: the reference is on the left for half the items (the odd one drawn), in random order,
        # so a rater who always clicks one side scores 50 % and left-side bias cannot masquerade as preference.
        ref_left = [i % 2 == 0 for i in range(len(chosen))]
        if len(chosen) % 2:
            ref_left[-1] = rng.random() < 0.5
        rng.shuffle(ref_left)
        for pid, left in zip(chosen, ref_left):
            sides = [ref.label, other.label] if left else [other.label, ref.label]
            files = {"left": (ref if sides[0] == ref.label else other).images[pid],
                     "right": (ref if sides[1] == ref.label else other).images[pid]}
            items.append(PackItem("", "real", pid, ref.prompts[pid]["prompt"], sides[0], sides[1],
                                  baseline=other.label, files=files))
    real = list(items)
    for pid in rng.sample(sorted(ref.images), min(opts.gold, len(ref.images))):
        answer = rng.choice(["left", "right"])
        sides = {answer: ref.label, ("right" if answer == "left" else "left"): "blank"}
        items.append(PackItem("", "gold", pid, ref.prompts[pid]["prompt"], sides["left"], sides["right"],
                              gold_answer=answer, files={answer: ref.images[pid]}))
    if real:
        original = rng.choice(real)
        items.append(PackItem("", "repeat", original.prompt_id, original.prompt, original.right, original.left,
                              baseline=original.baseline, repeat_of=None,
                              files={"left": original.files["right"], "right": original.files["left"]}))
        repeat = items[-1]
    rng.shuffle(items)
    for i, item in enumerate(items, 1):
        item.item_id = f"item{i:03d}"
    if real:
        repeat.repeat_of = original.item_id
    return items


def _blank_png(size: tuple[int, int]) -> bytes:
    from PIL import Image

    return _bare_png(Image.new("RGB", size, BLANK_GREY))


def _bare_png(im) -> bytes:
    """PNG bytes of `im`'s pixels only. The pixels are copied into a new image so that nothing of the source's
    `info` (text, EXIF, ICC profile, dpi, which Pillow's writer would carry over) reaches the file."""
    from PIL import Image

    clean = Image.frombytes(im.mode, im.size, im.tobytes())
    buf = io.BytesIO()
    clean.save(buf, format="PNG", optimize=False)
    return _image_chunks_only(buf.getvalue())


def _image_chunks_only(png: bytes) -> bytes:
    """`png` without any chunk outside PNG_IMAGE_CHUNKS: whatever a Pillow version decides to write by default
    (sRGB, gAMA, pHYs...), the pack's files stay bare."""
    import struct

    out, pos = [png[:8]], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        end = pos + 12 + length  # length, type, data, CRC
        if png[pos + 4:pos + 8] in PNG_IMAGE_CHUNKS:
            out.append(png[pos:end])
        pos = end
    return b"".join(out)


def _pack_png(path: Path) -> bytes:
    """A run image as a bare PNG (whatever its format): pixels converted to sRGB when the source carries a colour
    profile (so that dropping the profile does not change the colours), then written without metadata."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            icc = im.info.get("icc_profile")
            im = ImageOps.exif_transpose(im)  # an EXIF rotation is dropped with the EXIF: apply it to the pixels
            if icc:
                im = _to_srgb(im, icc)
            if im.mode not in ("RGB", "RGBA", "L", "LA"):
                has_alpha = "A" in im.getbands() or "transparency" in im.info
                im = im.convert("RGBA" if has_alpha else "RGB")
            return _bare_png(im)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise PartbenchError(f"{path}: not a readable image ({e}).") from None


def _to_srgb(im, icc: bytes):
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        rgb = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        return ImageCms.profileToProfile(rgb, source, ImageCms.createProfile("sRGB"), outputMode=rgb.mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im  # an unreadable profile: keep the pixels as they are (most such images are sRGB anyway)


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            # EXIF orientations 5-8 turn the image by 90 degrees; the pack image is stored upright (see _pack_png)
            return (h, w) if im.getexif().get(0x0112) in (5, 6, 7, 8) else (w, h)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise PartbenchError(f"{path}: not a readable image ({e}).") from None


def export_pack(opts: ExportOptions) -> dict[str, Any]:
    """Write the pack; returns the key (private) document."""
    if len(opts.runs) < 2:
        raise PartbenchError("userstudy export needs at least two runs: --run REFERENCE --run BASELINE [...].")
    if opts.items is not None and opts.items < 1:
        raise PartbenchError(f"--items must be at least 1, got {opts.items}.")
    if opts.gold < 0 or opts.raters_per_item < 1:
        raise PartbenchError("--gold must be >= 0 and --raters-per-item >= 1.")
    if not isinstance(opts.completion_code, bool):  # the old API took a fixed code, which the page would reveal
        raise PartbenchError("completion_code is a flag now (True/False): the page derives each participant's code "
                             "from their answers, since a fixed code can be read in the page source.")
    runs = [RunImages.read(p, opts.data_root) for p in opts.runs]
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        raise PartbenchError(f"runs must be distinct; got {labels}.")
    suites = {(r.suite, r.suite_version) for r in runs}
    if len(suites) > 1:
        raise PartbenchError(f"runs come from different suites/versions {sorted(suites)}; compare like with like.")
    tasks = {r.task for r in runs}
    if len(tasks) > 1:
        raise PartbenchError(f"runs of different tasks {sorted(tasks)}; pair generation runs or part-editing runs.")
    ref, others = runs[0], runs[1:]
    items = _draw_items(ref, others, opts, random.Random(opts.seed))
    editing = ref.task != "generation"
    for item in items:
        item.source, item.part = ref.sources.get(item.prompt_id), ref.prompts[item.prompt_id].get("part")
    question = EDIT_QUESTION if editing else QUESTION
    sizes = _check_sizes(items, opts.allow_different_sizes)

    pack_dir = opts.out / "pack"
    images_dir = pack_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for item in items:
        for n, side in ((1, "left"), (2, "right")):
            name = f"{item.item_id}-{n}.png"
            wanted.add(name)
            source = item.files.get(side)
            data = _pack_png(source) if source else _blank_png(_image_size(item.files[_other(side)]))
            atomic_write_bytes(images_dir / name, data)
        if item.source is not None:
            wanted.add(f"{item.item_id}-0.png")
            atomic_write_bytes(images_dir / f"{item.item_id}-0.png", _pack_png(item.source))
    for stale in images_dir.iterdir():
        if stale.name not in wanted:
            stale.unlink() if stale.is_file() else shutil.rmtree(stale)

    identity = {"seed": opts.seed, "runs": [{"label": r.label, "method": r.method} for r in runs],
                "items": [(i.item_id, i.kind, i.prompt_id, i.left, i.right) for i in items],
                "suite": ref.suite, "suite_version": ref.suite_version} | ({"task": ref.task} if editing else {})
    identity_bytes = json.dumps(identity, sort_keys=True).encode()
    pack_id = "pb-" + hashlib.sha256(identity_bytes).hexdigest()[:12]
    salt = completion_salt(identity_bytes) if opts.completion_code else None
    public_items = [{"item_id": i.item_id, "prompt": i.prompt, "left": f"images/{i.item_id}-1.png",
                     "right": f"images/{i.item_id}-2.png"} | (
                        {"source": f"images/{i.item_id}-0.png", "part": i.part} if editing else {}) for i in items]
    manifest = {"schema_version": PACK_SCHEMA, "pack_id": pack_id, "title": opts.title, "question": question,
                "n_items": len(items), "url_parameters": ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"],
                "answers_format": "JSON file downloaded at the end of index.html"}
    if editing:
        manifest["task"] = ref.task
    from partbench.userstudy.page import render_page

    submit_text = DEFAULT_SUBMIT_TEXT if opts.submit_text is None else opts.submit_text.strip()
    if not submit_text:
        raise PartbenchError("--submit-text is empty; the end page must tell participants how to submit.")
    atomic_write_text(pack_dir / "index.html", render_page(manifest, public_items, salt, submit_text))
    atomic_write_json(pack_dir / "manifest.json", manifest)
    atomic_write_text(opts.out / "items.csv", _items_csv(items, pack_id, question, editing))

    import partbench

    key = {
        "schema_version": PACK_SCHEMA, "pack_id": pack_id, "private": True,
        "note": "Which side is which method. Keep this file away from raters (it is outside pack/).",
        "question": question, "task": ref.task, "seed": opts.seed, "suite": ref.suite,
        "suite_version": ref.suite_version,
        "reference": ref.label, "baselines": [o.label for o in others],
        "runs": {r.label: {"path": str(r.path), "method": r.method} for r in runs},
        "raters_per_item": opts.raters_per_item, "completion_salt": salt, "completion_scheme": CODE_SCHEME,
        "submit_text": submit_text, "image_sizes": sizes, "allow_different_sizes": opts.allow_different_sizes,
        "partbench": partbench.__version__,
        "items": [{"item_id": i.item_id, "kind": i.kind, "prompt_id": i.prompt_id, "prompt": i.prompt,
                   "left": i.left, "right": i.right, "baseline": i.baseline, "gold_answer": i.gold_answer,
                   "repeat_of": i.repeat_of} for i in items],
    }
    atomic_write_json(opts.out / "key.json", key)
    return key


def _check_sizes(items: list[PackItem], allow: bool) -> dict[str, list[str]]:
    """The pixel sizes ("WxH") of each run's compared images. A pair whose two images differ in size is refused
    unless `allow`: a rater sees the larger, sharper image (e.g. a method at its 512 training size against a
    baseline at 1024), which decides the choice for a reason the study does not ask about."""
    sizes: dict[str, set[str]] = {}
    mismatched = []
    for item in items:
        if item.kind != "real":
            continue
        pair = {}
        for side in ("left", "right"):
            w, h = _image_size(item.files[side])
            pair[item.files[side]] = f"{w}x{h}"
            sizes.setdefault(getattr(item, side), set()).add(f"{w}x{h}")
        if len(set(pair.values())) > 1:
            mismatched.append(pair)
    if mismatched and not allow:
        shown = " vs ".join(f"{path} ({size})" for path, size in mismatched[0].items())
        raise PartbenchError(f"{len(mismatched)} compared pair(s) have images of different sizes, e.g. {shown}. "
                             "Generate the runs at one size (PartConcepts `-a resolution=N`, FLUX baselines "
                             "`-a height=N -a width=N`), or pass --allow-different-sizes to pair them anyway.")
    return {label: sorted(v) for label, v in sizes.items()}


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _items_csv(items: list[PackItem], pack_id: str, question: str, editing: bool) -> str:
    """One row per item in the crowd-platform input form: `Input.*` columns (image paths relative to pack/); edit
    packs add the part and the source image."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    extra = ["Input.part", "Input.image_source_url"] if editing else []
    writer.writerow(["Input.pack_id", "Input.item_id", "Input.prompt", "Input.question", "Input.image_left_url",
                     "Input.image_right_url", *extra])
    for i in items:
        writer.writerow([pack_id, i.item_id, i.prompt, question, f"images/{i.item_id}-1.png",
                         f"images/{i.item_id}-2.png", *([i.part, f"images/{i.item_id}-0.png"] if editing else [])])
    return buf.getvalue()
