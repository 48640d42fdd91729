"""What the pack shows raters, read from the exported files: instructions about left/right, the end page's
submission text, no completion code in the page, bare PNG images (chunk list parsed here, not by Pillow)."""

from __future__ import annotations

import html
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers.generation import study_runs
from typer.testing import CliRunner

from partbench.errors import PartbenchError
from partbench.userstudy.completion import completion_code
from partbench.userstudy.export import DEFAULT_SUBMIT_TEXT, ExportOptions, export_pack

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def runs(tmp_path, monkeypatch):
    return study_runs(tmp_path, monkeypatch)


def _section_text(page: str, section_id: str) -> str:
    """The visible text of `<section id=...>` (tags dropped, entities decoded, whitespace collapsed)."""
    body = re.search(rf'<section id="{section_id}"[^>]*>(.*?)</section>', page, re.S).group(1)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_instructions_say_left_right_is_the_objects_own(tmp_path, runs):
    export_pack(ExportOptions(runs=runs, out=tmp_path / "s", items=2, gold=1))
    page = (tmp_path / "s" / "pack" / "index.html").read_text()
    intro = _section_text(page, "intro")
    assert "Left and right in a prompt mean the object's own left and right" in intro
    assert "not the left or right side of the picture as you see it" in intro
    assert "the object's own left/right" in _section_text(page, "task")  # a reminder beside every pair


def test_end_page_says_how_to_submit_with_a_configurable_text(tmp_path, runs):
    from partbench.cli.main import app

    export_pack(ExportOptions(runs=runs, out=tmp_path / "d", items=2, gold=1))
    done = _section_text((tmp_path / "d" / "pack" / "index.html").read_text(), "done")
    assert DEFAULT_SUBMIT_TEXT in done and "Download answers" in done and "completion code" in done

    custom = "Upload the file at <b>our form</b> & tell us your code."
    result = CliRunner().invoke(app, ["userstudy", "export", *[a for r in runs for a in ("--run", str(r))],
                                      "--out", str(tmp_path / "c"), "--items", "2", "--submit-text", custom])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "c" / "pack" / "index.html").read_text()
    assert custom in _section_text(page, "done") and DEFAULT_SUBMIT_TEXT not in page
    assert "<b>our form</b>" not in page  # plain text, escaped
    with pytest.raises(PartbenchError, match="--submit-text is empty"):
        export_pack(ExportOptions(runs=runs, out=tmp_path / "e", items=2, submit_text="  "))


def test_no_completion_code_is_readable_in_the_pack(tmp_path, runs):
    key = export_pack(ExportOptions(runs=runs, out=tmp_path / "s", items=3, gold=2))
    pack = tmp_path / "s" / "pack"
    public = b"".join(p.read_bytes() for p in pack.rglob("*") if p.is_file())
    page = (pack / "index.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="pack-data">(.*?)</script>', page, re.S)
                      .group(1))
    assert "completion_code" not in data and "completion_code" not in key
    assert data["code_salt"] == key["completion_salt"]  # what the page derives codes from; the key keeps it too
    answer_sets = [{i["item_id"]: side for i in key["items"]} for side in ("left", "right")]
    answer_sets.append({i["item_id"]: i["gold_answer"] or "left" for i in key["items"]})
    for participant in ("p1", "rater-1", ""):
        for answers in answer_sets:
            code = completion_code(key["completion_salt"], key["pack_id"], participant, answers.items())
            assert code.encode() not in public and code.lower().encode() not in public

    with pytest.raises(PartbenchError, match="completion_code is a flag now"):
        export_pack(ExportOptions(runs=runs, out=tmp_path / "f", items=3, completion_code="C0MPLETE"))
    off = export_pack(ExportOptions(runs=runs, out=tmp_path / "n", items=3, gold=2, completion_code=False))
    assert off["completion_salt"] is None
    assert "completion code" not in _section_text((tmp_path / "n" / "pack" / "index.html").read_text(), "intro")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _chunk_types(data: bytes) -> list[bytes]:
    """The chunk types of a PNG file, in order, read straight from the bytes (length, type, data, CRC)."""
    assert data[:8] == PNG_SIGNATURE
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kinds.append(data[pos + 4:pos + 8])
        pos += 12 + length
    assert pos == len(data) and kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    return kinds


def _with_metadata(png: bytes, label: str) -> bytes:
    """`png` with the metadata chunks a generation pipeline or an editor may write, each naming the method."""
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = (b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x31\x00\x02" + struct.pack(">II", 16, 26)
            + b"\x00\x00\x00\x00" + label.encode().ljust(16, b"\x00"))  # one IFD entry: Software = label
    extra = [
        _chunk(b"tEXt", b"parameters\x00method=" + label.encode()),
        _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(label.encode())),
        _chunk(b"iTXt", b"Description\x00\x00\x00en\x00\x00" + label.encode()),
        _chunk(b"tIME", struct.pack(">HBBBBB", 2025, 3, 1, 12, 0, 0)),
        _chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)),
        _chunk(b"gAMA", struct.pack(">I", 45455)),
        _chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(srgb)),
        _chunk(b"eXIf", exif),
    ]
    header_end = 8 + 12 + 13  # signature + IHDR
    return png[:header_end] + b"".join(extra) + png[header_end:]


def test_pack_images_carry_no_metadata_chunks(tmp_path, runs):
    from PIL import Image

    for run in runs:
        label = json.loads((run / "results.json").read_text()).get("run_name") or run.name
        for line in (run / "samples.jsonl").read_text().splitlines():
            path = run / json.loads(line)["file"]
            path.write_bytes(_with_metadata(path.read_bytes(), label))
            assert {b"tEXt", b"eXIf", b"iCCP"} <= set(_chunk_types(path.read_bytes()))
    key = export_pack(ExportOptions(runs=runs, out=tmp_path / "s", items=3, gold=2))
    images = sorted((tmp_path / "s" / "pack" / "images").glob("*.png"))
    assert len(images) == 2 * len(key["items"])
    for image in images:
        data = image.read_bytes()
        assert set(_chunk_types(data)) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}, image.name
        for label in key["runs"]:
            assert label.encode() not in data
    # The pixels are the run's (an sRGB profile converted to sRGB changes nothing visible).
    item = next(i for i in key["items"] if i["kind"] == "real")
    pack_pixels = Image.open(tmp_path / "s" / "pack" / "images" / f"{item['item_id']}-1.png").convert("RGB")
    run_dir = Path(key["runs"][item["left"]]["path"])
    row = next(json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()
               if json.loads(line)["prompt_id"] == item["prompt_id"] and json.loads(line)["k"] == 0)
    source = Image.open(run_dir / row["file"]).convert("RGB")
    assert pack_pixels.size == source.size
    assert np.abs(np.asarray(pack_pixels, dtype=int) - np.asarray(source, dtype=int)).max() <= 1

    (run_dir / row["file"]).write_bytes(b"not an image")  # bad input: one clear line, no traceback
    with pytest.raises(PartbenchError, match=rf"{row['file']}: not a readable image"):
        export_pack(ExportOptions(runs=runs, out=tmp_path / "bad", items=3, gold=2))
