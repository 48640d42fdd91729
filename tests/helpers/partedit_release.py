"""A small PartEdit-Bench release built in the released parquet schema (HF dataset Aleksandar/PartEdit-Bench: the
fields of the dataset card plus `token_cls`; image columns are HF `Image` structs of encoded `bytes` and `path`), with
the commit file huggingface-cli's --local-dir download leaves beside each file. What each row holds is returned, so
tests know the truth independently of the converter."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FixtureRow:
    split: str
    id: int
    source: np.ndarray  # H×W×3 uint8
    mask: np.ndarray  # H×W bool: the part
    output: np.ndarray  # PartEdit's output as stored (may differ in size)


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _image(arr: np.ndarray, name: str) -> dict:
    return {"bytes": _png(arr), "path": name}


def build_release(folder: Path, n_synth: int = 3, n_real: int = 2, token_cls: bool = True,
                  drop_column: str | None = None) -> list[FixtureRow]:
    """Write `folder/data/{synth,real}-00000-of-00001.parquet` and return what the rows hold.

    Synth masks are 0/255; real masks are 0/1 (both binary as drawn); real row 0's mask is stored at twice the
    image's size and its PartEdit output at 48x40, so the converter's resizing is exercised."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    rows_out = []
    for split, n in (("synth", n_synth), ("real", n_real)):
        records = []
        for i in range(n):
            rng = np.random.default_rng([7, i, len(split)])
            h, w = 24, 32
            source = rng.integers(30, 220, (h, w, 3), dtype=np.uint8)
            mask = np.zeros((h, w), bool)
            mask[4 + i:12 + i, 6:18] = True
            output = source.copy()
            output[mask] = (200, 30, 30)
            stored_mask = mask.astype(np.uint8) * (255 if split == "synth" else 1)
            if split == "real" and i == 0:
                stored_mask = np.kron(stored_mask, np.ones((2, 2), np.uint8))
                from PIL import Image

                output_stored = np.asarray(Image.fromarray(output).resize((48, 40)))
            else:
                output_stored = output
            rows_out.append(FixtureRow(split, i, source, mask, output_stored))
            subject = "man" if i % 2 == 0 else "dog"
            edit = f"{subject} with a robotic head"
            record = {
                "id": i, "original_image": _image(source, f"{i}.png"), "partedit": _image(output_stored, "p.png"),
                "subject": subject, "edit": edit, "part": "head", "gt_mask": _image(stored_mask, "m.png"),
                "class_name": subject, "prompt_original": f"a closeup of a {subject}",
                "prompt_changed": f"a closeup of a {edit}", "p2p_prompt": f"a closeup of a {subject}",
                "p2p_template": "a closeup of a {}", "instructp2p_edit1": "make its head robotic",
                "instructp2p_edit2": "give it a robotic head", "instructp2p_edit3": "turn the head into a robot's",
                "seed": 1000 + i}
            if token_cls:
                record["token_cls"] = "human_head" if subject == "man" else "quadruped_head"
            records.append(record)
        fields = [("id", pa.int32()), ("original_image", image_type), ("partedit", image_type),
                  ("subject", pa.string()), ("edit", pa.string()), ("part", pa.string()), ("gt_mask", image_type),
                  ("class_name", pa.string()), ("prompt_original", pa.string()), ("prompt_changed", pa.string()),
                  ("p2p_prompt", pa.string()), ("p2p_template", pa.string()), ("instructp2p_edit1", pa.string()),
                  ("instructp2p_edit2", pa.string()), ("instructp2p_edit3", pa.string()), ("seed", pa.int32())]
        if token_cls:
            fields.append(("token_cls", pa.string()))
        fields = [f for f in fields if f[0] != drop_column]
        schema = pa.schema(fields)
        table = pa.Table.from_pylist([{k: r.get(k) for k, _ in fields} for r in records], schema=schema)
        name = f"data/{split}-00000-of-00001.parquet"
        (folder / "data").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / name)
        meta = folder / ".cache" / "huggingface" / "download" / f"{name}.metadata"
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(f"{COMMIT}\n\"etag\"\n1700000000.0\n")
    return rows_out
