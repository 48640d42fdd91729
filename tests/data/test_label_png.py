"""`read_label_png`: libspng's fast path for 8-bit grayscale maps gives Pillow's arrays; every other PNG, and every
file libspng cannot read, goes to Pillow, whose errors name the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from partbench.data import images
from partbench.data.images import read_label_png
from partbench.errors import PartbenchError

pyspng = pytest.importorskip("pyspng")


def _pillow(path):
    with Image.open(path) as im:
        return np.array(im)


@pytest.mark.parametrize("options", [{}, {"optimize": True}, {"compress_level": 0}, {"compress_level": 9}])
@pytest.mark.parametrize("size", [(1, 1), (7, 3), (500, 375)])
def test_fast_path_gives_pillows_array(tmp_path, monkeypatch, size, options):
    rng = np.random.default_rng(size[0])
    labels = rng.integers(0, 256, size[::-1], dtype=np.uint8)
    labels[: size[1] // 2] = 255  # long runs, as real maps have, beside noise
    path = tmp_path / "map.png"
    Image.fromarray(labels).save(path, **options)
    fast = []
    monkeypatch.setattr(images, "_decode_with_pil", lambda p: pytest.fail(f"{p} left the fast path"))
    original = pyspng.load
    monkeypatch.setattr(pyspng, "load", lambda *a: fast.append(1) or original(*a))
    out = read_label_png(path)
    assert fast and out.dtype == np.uint8 and np.array_equal(out, labels) and np.array_equal(out, _pillow(path))
    out[0, 0] = 3  # a map of its own, writable as Pillow's are


def test_interlaced_and_transparent_gray_maps_keep_their_values(tmp_path):
    """Adam7 interlacing and a tRNS chunk (Pillow's `transparency=`) must not change the ids: libspng is asked for
    gray values, never for an alpha channel."""
    labels = np.random.default_rng(1).integers(0, 40, (37, 53), dtype=np.uint8)
    interlaced, transparent = tmp_path / "adam7.png", tmp_path / "trns.png"
    Image.fromarray(labels).save(interlaced, interlace=1)
    Image.fromarray(labels).save(transparent, transparency=0)
    for path in (interlaced, transparent):
        assert np.array_equal(read_label_png(path), labels) and np.array_equal(read_label_png(path), _pillow(path))


@pytest.mark.parametrize("mode, dtype", [("I;16", np.uint16), ("P", np.uint8), ("1", bool)])
def test_other_pngs_go_to_pillow(tmp_path, monkeypatch, mode, dtype):
    labels = np.random.default_rng(2).integers(0, 2 if mode == "1" else 300 if mode == "I;16" else 200, (9, 11))
    path = tmp_path / "map.png"
    image = Image.fromarray(labels.astype(np.uint16)) if mode == "I;16" else Image.fromarray(
        labels.astype(np.uint8)).convert(mode)
    image.save(path)
    monkeypatch.setattr(pyspng, "load", lambda *a: pytest.fail("libspng asked for a non-8-bit-gray PNG"))
    out = read_label_png(path)
    assert out.dtype == dtype and np.array_equal(out, _pillow(path))


def test_damaged_png_is_an_error_naming_the_file(tmp_path):
    labels = np.random.default_rng(3).integers(0, 9, (64, 64), dtype=np.uint8)
    path = tmp_path / "map.png"
    Image.fromarray(labels).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut in the middle of the image data
    with pytest.raises(PartbenchError, match=r"map\.png: cannot read PNG"):
        read_label_png(path)


def test_without_pyspng_pillow_decodes(tmp_path, monkeypatch):
    import sys

    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "map.png"
    Image.fromarray(labels).save(path)
    monkeypatch.setitem(sys.modules, "pyspng", None)  # `import pyspng` now raises ImportError
    assert np.array_equal(read_label_png(path), labels)


def test_loader_threads_decode_with_pillow(tmp_path, monkeypatch):
    """pyspng holds the GIL; Pillow releases it, so `--workers` threads decode in parallel only with Pillow."""
    from concurrent.futures import ThreadPoolExecutor

    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "map.png"
    Image.fromarray(labels).save(path)
    monkeypatch.setattr(pyspng, "load", lambda *a: pytest.fail("libspng used off the main thread"))
    with ThreadPoolExecutor(1) as pool:
        assert np.array_equal(pool.submit(read_label_png, path).result(), labels)
