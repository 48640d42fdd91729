"""`read_cache_key` walks a PNG's chunks up to the pixel data: it finds what Pillow finds, and a damaged, truncated
or key-less file gives None (the prediction is then made again, never trusted)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, PngImagePlugin

from partbench.store.run_dir import KEY_CHUNK, encode_label_png, read_cache_key

KEY = "0123456789abcdef" * 4


def _pillows_key(data: bytes) -> str | None:
    with Image.open(io.BytesIO(data)) as im:
        return im.info.get(KEY_CHUNK)


def test_finds_the_key_pillow_finds(tmp_path):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * 10_000)  # a large chunk before the key: the walk skips it
    info.add_text(KEY_CHUNK, KEY)
    buf = io.BytesIO()
    rgb.save(buf, format="PNG", pnginfo=info, icc_profile=b"\0" * 5000)
    cases = {"8-bit": encode_label_png(np.arange(12).reshape(3, 4), 255, key=KEY),
             "16-bit": encode_label_png(np.arange(12).reshape(3, 4), 65535, key=KEY),
             "rgb": buf.getvalue(), "no key": encode_label_png(np.zeros((2, 2)), 255)}
    for name, data in cases.items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        assert read_cache_key(path) == _pillows_key(data) == (None if name == "no key" else KEY), name


def test_damaged_files_give_no_key(tmp_path):
    data = encode_label_png(np.arange(12).reshape(3, 4), 255, key=KEY)
    at = data.index(KEY.encode())
    damaged = data[:at] + b"f" + data[at + 1:]  # the key's CRC no longer matches
    for name, content in {"crc": damaged, "cut": data[:at + 10], "not png": b"GIF89a" + data[6:],
                          "empty": b""}.items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(content)
        assert read_cache_key(path) is None, name
    assert read_cache_key(tmp_path / "missing.png") is None
    assert read_cache_key(tmp_path) is None  # a folder
