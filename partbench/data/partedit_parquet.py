"""`partbench data prepare partedit --source DIR`: PartEdit-Bench's released parquet files (HF dataset
`Aleksandar/PartEdit-Bench`, `data/synth-*.parquet` and `data/real-*.parquet`) into the part-editing layout
(`partbench.data.part_edit`), read with pyarrow.

Per row: `original_image` -> `images/<split>/<sample id>.png`, `gt_mask` -> `masks/<split>/<sample id>.png`,
`partedit` -> `partedit/<split>/<sample id>.png`, the text fields kept under their own names in `<split>.jsonl`.
The sample id is `<split>_<id:03d>`. Image columns are HF `Image` features (a struct of `bytes` and `path`).

Decisions the release leaves open (docs/partedit.md):
- the mask is binarised as grey value > half its maximum (a 0/255 mask and a 0/1 mask both read as drawn) and
  written as 0/255; a mask of another size than its image is resized to it (nearest neighbour) and counted in the
  notes, since the metrics compare pixels of the source;
- `token_cls` (read by PartEdit's `app.py`, absent from the dataset card we saw) is kept when present; whether it is
  is recorded in `release.json` and said in the notes;
- the revision: the commit `huggingface-cli download --local-dir` records beside each file
  (`.cache/huggingface/download/<file>.metadata`, first line) is recorded in `release.json`; without it the revision
  is `unknown`. PartEdit's demo loads revision `v1.1`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import DataNotFoundError, PartbenchError

if TYPE_CHECKING:
    from partbench.data.prepare import Plan
    from partbench.suites import Suite

DATASET = "Aleksandar/PartEdit-Bench"
EXPECTED_REVISION = "v1.1"  # what PartEdit's app.py loads
SPLITS = ("synth", "real")
RELEASE_FILE = "release.json"
REQUIRED_COLUMNS = ("id", "original_image", "gt_mask", "prompt_original", "prompt_changed", "part")
TEXT_COLUMNS = ("subject", "edit", "part", "class_name", "prompt_original", "prompt_changed", "p2p_prompt",
                "p2p_template", "instructp2p_edit1", "instructp2p_edit2", "instructp2p_edit3", "token_cls")
INT_COLUMNS = ("id", "seed")
BATCH_ROWS = 8  # rows decoded at a time: a row holds three full-size images


def parquet_files(found: Path, split: str) -> list[Path]:
    return sorted((found / "data").glob(f"{split}-*.parquet"))


def _revision(found: Path, files: list[Path]) -> tuple[str, str]:
    """(revision, where it was read): the commit huggingface_hub recorded for the files when all agree."""
    commits = set()
    for f in files:
        meta = found / ".cache" / "huggingface" / "download" / f.relative_to(found).with_name(f.name + ".metadata")
        try:
            commits.add(meta.read_text(encoding="utf-8").splitlines()[0].strip())
        except (OSError, IndexError):
            return "unknown", "no huggingface_hub download metadata beside the files"
    if len(commits) != 1:
        return "unknown", f"the files come from different commits ({', '.join(sorted(commits))})"
    return commits.pop(), ".cache/huggingface/download/*.metadata"


def _image_bytes(value: Any, where: str) -> bytes | None:
    """The encoded image of an HF `Image` cell (a {bytes, path} struct), None for an empty cell."""
    if value is None:
        return None
    data = value.get("bytes") if isinstance(value, dict) else value
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise PartbenchError(f"{where}: expected an image (a struct with encoded 'bytes'), got {type(value).__name__}.")
    return bytes(data)


def _decode(data: bytes, mode: str, where: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert(mode))
    except (OSError, ValueError) as e:
        raise PartbenchError(f"{where}: cannot decode the image ({e}).") from None


def binarise_mask(grey: np.ndarray) -> np.ndarray:
    """Part = grey value above half the mask's maximum (see the module docstring); all False for an empty mask."""
    top = int(grey.max()) if grey.size else 0
    return grey > top / 2 if top else np.zeros(grey.shape, dtype=bool)


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises its own ArrowInvalid/OSError family for a damaged file
        raise PartbenchError(f"{path}: not a readable parquet file ({e}).") from None
    names = set(reader.schema_arrow.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise PartbenchError(f"{path}: missing column(s) {', '.join(missing)} of the PartEdit-Bench schema (it has "
                             f"{', '.join(sorted(names))}).")
    for batch in reader.iter_batches(batch_size=BATCH_ROWS):
        yield from batch.to_pylist()


def convert_row(row: dict[str, Any], split: str, where: str) -> tuple[dict[str, Any], dict[str, bytes], list[str]]:
    """(layout record, {relative path: PNG bytes}, notes) of one parquet row."""
    for key in INT_COLUMNS:
        if row.get(key) is not None and (isinstance(row[key], bool) or not isinstance(row[key], int)):
            raise PartbenchError(f"{where}: {key!r} must be an integer, got {row[key]!r}.")
    if row.get("id") is None:
        raise PartbenchError(f"{where}: 'id' is empty.")
    sample_id = f"{split}_{row['id']:03d}"
    source = _image_bytes(row.get("original_image"), f"{where} original_image")
    mask_data = _image_bytes(row.get("gt_mask"), f"{where} gt_mask")
    if source is None or mask_data is None:
        raise PartbenchError(f"{where}: original_image and gt_mask must both be present.")
    image = _decode(source, "RGB", f"{where} original_image")
    grey = _decode(mask_data, "L", f"{where} gt_mask")
    notes = []
    if grey.shape != image.shape[:2]:
        from PIL import Image

        notes.append(f"{sample_id}: gt_mask {grey.shape[1]}x{grey.shape[0]} resized (nearest) to its image "
                     f"{image.shape[1]}x{image.shape[0]}")
        grey = np.asarray(Image.fromarray(grey).resize((image.shape[1], image.shape[0]), Image.NEAREST))
    mask = binarise_mask(grey)
    if not mask.any():
        notes.append(f"{sample_id}: gt_mask is empty (the sample is skipped when scored)")
    record: dict[str, Any] = {"sample_id": sample_id, "id": row["id"], "seed": row.get("seed")}
    for key in TEXT_COLUMNS:
        if key in row:
            value = row[key]
            if value is not None and not isinstance(value, str):
                raise PartbenchError(f"{where}: {key!r} must be text, got {value!r}.")
            record[key] = value
    files = {"image": f"images/{split}/{sample_id}.png", "mask": f"masks/{split}/{sample_id}.png"}
    blobs = {files["image"]: _png(image), files["mask"]: _png(mask.astype(np.uint8) * 255)}
    output = _image_bytes(row.get("partedit"), f"{where} partedit")
    if output is not None:
        files["partedit"] = f"partedit/{split}/{sample_id}.png"
        blobs[files["partedit"]] = _png(_decode(output, "RGB", f"{where} partedit"))
    return record | files, blobs, notes


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare_partedit(found: Path, out: Path, layout: Any, suite: Suite) -> Plan:
    """The `convert:` of the `partedit` prepare entry (see the module docstring)."""
    from partbench.data.prepare import Plan

    try:
        import pyarrow.parquet  # noqa: F401 - checked before any work
    except ImportError:
        raise PartbenchError("Preparing PartEdit-Bench reads its parquet files with pyarrow: "
                             "`pip install pyarrow` (or `pip install partbench[parquet]`).") from None
    files = {split: parquet_files(found, split) for split in SPLITS}
    if not any(files.values()):
        raise DataNotFoundError(f"{found}: no data/synth-*.parquet or data/real-*.parquet (the files of the HF dataset "
                                f"{DATASET}).")

    def finish(folder: Path) -> list[str]:
        from partbench.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

        notes, token_cls, rows = [], {}, {}
        for split, paths in files.items():
            lines, seen = [], set()
            for path in paths:
                for i, row in enumerate(_rows(path)):
                    record, blobs, row_notes = convert_row(row, split, f"{path} row {i}")
                    if record["sample_id"] in seen:
                        raise PartbenchError(f"{path} row {i}: id {row['id']} appears twice in the {split} split.")
                    seen.add(record["sample_id"])
                    for rel, data in blobs.items():
                        atomic_write_bytes(folder / rel, data)
                    lines.append(json.dumps(record, ensure_ascii=False) + "\n")
                    token_cls.setdefault(split, []).append(record.get("token_cls") is not None)
                    notes += row_notes
            if paths:
                atomic_write_text(folder / f"{split}.jsonl", "".join(lines))
                rows[split] = len(lines)
        revision, revision_from = _revision(found, [p for ps in files.values() for p in ps])
        has_token_cls = {s: all(v) and bool(v) for s, v in token_cls.items()}
        atomic_write_json(folder / RELEASE_FILE, {
            "dataset": DATASET, "revision": revision, "revision_from": revision_from,
            "expected_revision": EXPECTED_REVISION, "token_cls": has_token_cls, "rows": rows,
            "files": {p.relative_to(found).as_posix(): _sha256(p) for ps in files.values() for p in ps}})
        notes.append(", ".join(f"{s}: {n} samples" for s, n in rows.items()) + f"; revision {revision}")
        if not all(has_token_cls.values()):
            notes.append(f"token_cls is missing from some rows ({has_token_cls}); PartEdit's app.py reads it from "
                         f"revision {EXPECTED_REVISION}")
        return notes

    return Plan(pairs=[], notes=[], finish=finish)


def read_release(dataset_dir: Path) -> dict[str, Any] | None:
    """`release.json` of a prepared folder (None for a generated one, or a folder prepared by hand)."""
    try:
        return json.loads((dataset_dir / RELEASE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
