"""`partbench data prepare pascal-part-sr`: Pascal-Part upsampled and outpainted, its annotations carried along,
in the layout the Pascal-Part reader reads (suite `pascal-part-sr`).

```
<output>/Annotations_Part/<voc id>.mat           # the source's objects and parts, transformed (+ `sr`: the geometry)
<output>/VOC2010/JPEGImages/<voc id>.jpg          # the generated canvas (JPEG quality 95, no chroma subsampling)
<output>/VOC2010/ImageSets/Main/{train,val}.txt   # the images finished with this recipe and generator, written last
<output>/sr.jsonl                                 # one line per image: hashes, recipe, generator, checks
<output>/manifest.json                            # written last: recipe, generator, counts (what `data verify` checks)
```

Per image: generate, write the JPEG and the .mat atomically, read both back and check them (every object and part
pixel against the source under the inverse map, the image's size, the placed box's PSNR against the source), then
append its line to `sr.jsonl` (flushed and fsynced). A kill loses at most the image in progress: on the next run an
image is skipped when its line says it passed with the same source hashes, recipe hash and generator identity and
its files are there with the recorded sizes; every other image is made again. Images that fail a check are recorded
(`ok: false`), left out of the split lists, and tried again on the next run. The split lists and manifest.json are
removed at the start and written at the end, so a folder in the middle of a run reads as incomplete.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.data.completeness import MANIFEST
from partbench.data.pascal_part import check_sizes, read_annotation
from partbench.data.pascal_part_sr import Recipe, check_outputs, encode_mat
from partbench.errors import DataNotFoundError, PartbenchError

if TYPE_CHECKING:
    from partbench.data.sr_generators import ImageGenerator

ROWS = "sr.jsonl"
SPLITS = ("train", "val")
JPEG_QUALITY = 95
DEFAULT_MIN_PSNR = 20.0  # dB between the placed box (scaled back down) and the source image


@dataclass(frozen=True)
class SourceLayout:
    """A Pascal-Part data root as `partbench data prepare pascal-part` and `voc2010` lay it out."""

    annotations: Path  # .../Annotations_Part
    voc: Path  # .../VOC2010 (JPEGImages/, ImageSets/Main/)

    def mat(self, image_id: str) -> Path:
        return self.annotations / f"{image_id}.mat"

    def image(self, image_id: str) -> Path:
        return self.voc / "JPEGImages" / f"{image_id}.jpg"

    def split_file(self, split: str) -> Path:
        return self.voc / "ImageSets" / "Main" / f"{split}.txt"


def find_source(source: Path, output: Path) -> SourceLayout:
    """The Annotations_Part/ and VOC2010 folders under `source` (itself or up to 5 levels down), never the output's."""
    from partbench.data.prepare import find_dir

    source = Path(source).expanduser()
    if not source.is_dir():
        raise DataNotFoundError(f"{source}: source folder not found (pass the data root that holds "
                                f"pascal-part/Annotations_Part and VOCdevkit/VOC2010).")
    out = Path(output).resolve()

    def outside_output(d: Path) -> bool:
        r = d.resolve()
        return out != r and out not in r.parents

    hint = (" (a Pascal-Part data root holds pascal-part/Annotations_Part/*.mat and VOCdevkit/VOC2010/{JPEGImages,"
            "ImageSets/Main}: `partbench data prepare pascal-part` and `partbench data prepare voc2010` make them)")
    annotations = find_dir(source, lambda d: outside_output(d) and (d / "Annotations_Part").is_dir(),
                           "Pascal-Part Annotations_Part/ folder" + hint, source)
    voc = find_dir(source, lambda d: outside_output(d) and (d / "JPEGImages").is_dir()
                   and (d / "ImageSets" / "Main").is_dir(), "VOC2010 folder (JPEGImages/, ImageSets/Main/)" + hint,
                   source)
    return SourceLayout(annotations / "Annotations_Part", voc)


def source_items(src: SourceLayout, splits: tuple[str, ...]) -> tuple[list[tuple[str, str]], int]:
    """(image id, split) of every image the source's split lists name that has a .mat, sorted by id, and how many
    listed images of `splits` have none. Every split is listed (the output's lists cover them all); a list missing
    from `splits` is an error."""
    items, without = {}, 0
    for split in SPLITS:
        path = src.split_file(split)
        if not path.is_file():
            if split in splits:
                raise DataNotFoundError(f"{path}: split list not found.")
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            image_id = line.split()[0]
            if src.mat(image_id).is_file():
                items.setdefault(image_id, split)
            elif split in splits:
                without += 1
    return sorted(items.items()), without


@dataclass
class SRSummary:
    output: Path
    made: int = 0
    kept: int = 0
    listed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    without_annotation: int = 0
    remaining: int = 0  # source images not yet finished (beyond --limit)


def prepare_pascal_part_sr(source: Path, output: Path, recipe: Recipe, generator: ImageGenerator,
                           splits: tuple[str, ...] = SPLITS, limit: int | None = None, force: bool = False,
                           min_psnr: float = DEFAULT_MIN_PSNR, progress: bool = True) -> SRSummary:
    from partbench.console import progress_bar
    from partbench.store.atomic import atomic_write_json, atomic_write_text

    if limit is not None and limit < 1:
        raise PartbenchError(f"--limit must be positive, got {limit}.")
    output = Path(output).expanduser()
    src = find_source(source, output)
    items, without = source_items(src, splits)
    if not any(s in splits for _, s in items):
        raise DataNotFoundError(f"{src.voc}/ImageSets/Main: no image of {', '.join(splits)} has a .mat in "
                                f"{src.annotations}.")
    identity = generator.identity()
    summary = SRSummary(output=output, without_annotation=without)
    with _locked(output):
        rows = read_rows(output / ROWS)
        _refuse_replacing(output, rows, recipe, identity, force)
        for path in [output / MANIFEST, *(_split_list(output, s) for s in SPLITS)]:
            path.unlink(missing_ok=True)  # incomplete until the end
        _compact(output / ROWS, rows)  # drops a line a kill cut short, so appends start on a fresh line
        todo = [item for item in items if item[1] in splits]
        todo = todo[:limit] if limit else todo
        with progress_bar(disable=not progress) as bar:
            task = bar.add_task("Pascal-Part SR", total=len(todo), note="")
            for image_id, _ in todo:
                hashes = {"mat": _sha256(src.mat(image_id)), "image": _sha256(src.image(image_id))}
                if not force and is_current(rows.get(image_id), output, recipe, identity, hashes):
                    summary.kept += 1
                else:
                    row = make_image(src, output, image_id, recipe, generator, identity, hashes, min_psnr)
                    _append(output / ROWS, row)
                    rows[image_id] = row
                    summary.made += 1
                    if not row["ok"]:
                        summary.failed[image_id] = row["error"]
                bar.update(task, advance=1, note=f"made {summary.made}, kept {summary.kept}, "
                                                 f"failed {len(summary.failed)}")
        _compact(output / ROWS, rows)
        done = {i for i, _ in items if is_current(rows.get(i), output, recipe, identity)}
        summary.remaining = sum(1 for i, s in items if s in splits and i not in done)
        for split in sorted({s for _, s in items}, key=SPLITS.index):
            ids = [i for i, s in items if s == split and i in done]
            summary.listed[split] = len(ids)
            atomic_write_text(_split_list(output, split), "".join(f"{i}\n" for i in ids))
        # What is missing, per split, for `partbench.data.completeness`: images listed against the source's
        # (annotated) images, how many failed their checks, and the --limit that left the rest undone.
        split_of = dict(items)
        atomic_write_json(output / MANIFEST, {
            "generator": "partbench.data.pascal_part_sr_prepare", "source": str(Path(source).expanduser()),
            "image_generator": identity, "recipe": recipe.to_dict(), "recipe_hash": recipe.hash,
            "complete": len(done) == len(items), "failed": sorted(summary.failed), "limit": limit,
            "prepared_splits": [s for s in SPLITS if s in splits],
            "splits": {s: {"images": n, "source_images": sum(1 for _, t in items if t == s),
                           "failed": sum(1 for i in summary.failed if split_of.get(i) == s)}
                       for s, n in summary.listed.items()}})
    return summary


def _refuse_replacing(output: Path, rows: dict[str, dict], recipe: Recipe, identity: dict[str, Any],
                      force: bool) -> None:
    """Images finished with another recipe or generator are refused unless --force: a mistyped option would otherwise
    replace hours of generation, and drop them from the split lists at once. Nothing is touched before this."""
    other = {i: r for i, r in rows.items() if r.get("ok") and (r.get("recipe") != recipe.hash
                                                                or r.get("generator") != identity)}
    if other and not force:
        image_id, row = next(iter(other.items()))
        raise PartbenchError(
            f"{output}: {len(other)} image(s) there were made with another recipe or generator (e.g. {image_id}: "
            f"recipe {row.get('recipe')}, generator {row.get('generator')}), and this run (recipe {recipe.hash}, "
            f"generator {identity}) would replace them. Pass the options they were made with, --force to replace "
            "them, or another --output to keep both.")


def make_image(src: SourceLayout, output: Path, image_id: str, recipe: Recipe, generator: ImageGenerator,
               identity: dict[str, Any], hashes: dict[str, str | None], min_psnr: float) -> dict[str, Any]:
    """Generate, write and check one image; its manifest line (`ok: false` with the reason when a check fails)."""
    from PIL import Image

    from partbench.store.atomic import atomic_write_bytes

    row: dict[str, Any] = {"id": image_id, "ok": False, "recipe": recipe.hash, "generator": identity,
                           "source": hashes}
    # A bad source file or a failed check is this image's problem: recorded, and the run goes on. The generator's
    # own errors (weights that do not load, bad settings) are everyone's: they stop the run.
    try:
        if hashes["image"] is None:
            raise PartbenchError(f"{src.image(image_id)}: image missing (its annotation {src.mat(image_id)} exists).")
        imname, objects = read_annotation(src.mat(image_id))
        with Image.open(src.image(image_id)) as im:
            image = im.convert("RGB")
        check_sizes(src.mat(image_id), objects, (image.height, image.width))
    except (PartbenchError, OSError) as e:
        return row | {"error": str(e)}
    geo = recipe.geometry(image.width, image.height)
    prompt, seed = recipe.prompt_for([o.class_name for o in objects]), recipe.image_seed(image_id)
    row |= {"canvas": list(geo.canvas_size), "placement": list(geo.placement), "prompt": prompt, "seed": seed}
    made = generator.generate(image, geo.canvas_size, geo.placement, prompt, seed)
    buf = io.BytesIO()
    made.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    paths = {"image": output_image(output, image_id), "mat": output_mat(output, image_id)}
    blobs = {"image": buf.getvalue(), "mat": encode_mat(imname, objects, geo, recipe.hash)}
    for key, path in paths.items():
        atomic_write_bytes(path, blobs[key])
    row["outputs"] = {k: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)} for k, b in blobs.items()}
    try:
        row["interior_psnr"], problems = check_outputs(paths["image"], paths["mat"], objects, geo, image, min_psnr)
    except (PartbenchError, OSError) as e:  # what was written does not even read back
        problems = [str(e)]
    row["ok"] = not problems
    if problems:
        row["error"] = "; ".join(problems)
    return row


# ---------------------------------------------------------------------------------------------------------------------
# The manifest lines and the folder


def output_image(output: Path, image_id: str) -> Path:
    return output / "VOC2010" / "JPEGImages" / f"{image_id}.jpg"


def output_mat(output: Path, image_id: str) -> Path:
    return output / "Annotations_Part" / f"{image_id}.mat"


def _split_list(output: Path, split: str) -> Path:
    return output / "VOC2010" / "ImageSets" / "Main" / f"{split}.txt"


def is_current(row: dict | None, output: Path, recipe: Recipe, identity: dict[str, Any],
               hashes: dict[str, str | None] | None = None) -> bool:
    """Whether `row` records this image as finished with this recipe and generator (and, when given, from sources
    with these hashes), and its files are there with the recorded sizes."""
    if not row or not row.get("ok") or row.get("recipe") != recipe.hash or row.get("generator") != identity:
        return False
    if hashes is not None and row.get("source") != hashes:
        return False
    paths = {"image": output_image(output, row["id"]), "mat": output_mat(output, row["id"])}
    try:
        return all(paths[k].stat().st_size == row["outputs"][k]["bytes"] for k in paths)
    except (OSError, KeyError, TypeError):
        return False


def read_rows(path: Path) -> dict[str, dict]:
    """Image id -> its latest line; lines that do not parse (a kill mid-write) are dropped: those images are made
    again."""
    rows: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                rows[row["id"]] = row
    return rows


def _compact(path: Path, rows: dict[str, dict]) -> None:
    from partbench.store.atomic import AtomicLineWriter

    with AtomicLineWriter(path) as writer:
        for image_id in sorted(rows):
            writer.write(rows[image_id])


def _append(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@contextmanager
def _locked(output: Path) -> Iterator[None]:
    """One prepare per output folder: a second is refused rather than both appending to sr.jsonl."""
    import fcntl

    output.mkdir(parents=True, exist_ok=True)
    with open(output / ".lock", "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise PartbenchError(f"{output} is being prepared by another process; wait for it to finish.") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
