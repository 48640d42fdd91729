"""Decoded label maps shared by the samples that read them: once per file, read-only, bounded, thread-safe."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from partbench.data.images import RecentDecodes, read_label_png, shared
from partbench.data.readers import make_reader
from partbench.errors import PartbenchError
from partbench.suites import load_suite


def test_threads_asking_for_one_file_together_decode_it_once():
    calls: list[str] = []

    def slow(key: str) -> np.ndarray:
        calls.append(key)
        time.sleep(0.05)  # long enough for every thread to ask while the first decodes
        return np.full(3, len(calls))

    cache: RecentDecodes[str, np.ndarray] = RecentDecodes(slow)
    results: dict[str, list[np.ndarray]] = {"a.png": [], "b.png": []}  # by key: the threads finish in any order
    threads = [threading.Thread(target=lambda key=key: results[key].append(cache.get(key)))
               for key in ["a.png"] * 4 + ["b.png"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == ["a.png", "b.png"]
    a = results["a.png"]
    assert len(a) == 4 and all(r is a[0] for r in a)  # the four "a.png" callers share one array


def test_only_the_last_few_are_kept_and_a_failure_is_not():
    calls: list[int] = []

    def decode(key: int) -> int:
        calls.append(key)
        if key < 0:
            raise PartbenchError(f"{key}: broken")
        return key * 10

    cache: RecentDecodes[int, int] = RecentDecodes(decode, keep=2)
    assert [cache.get(k) for k in (1, 1, 2, 1, 3, 1, 2)] == [10, 10, 20, 10, 30, 10, 20]
    assert calls == [1, 2, 3, 2]  # 1 was used after 2, so adding 3 dropped 2; 1 stayed
    for _ in range(2):  # each sample that reads a broken file gets the error itself
        with pytest.raises(PartbenchError, match="-1: broken"):
            cache.get(-1)
    assert calls[-2:] == [-1, -1]


def test_shared_maps_are_read_only(tmp_path):
    path = tmp_path / "m.png"
    Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).save(path)
    arr = shared(read_label_png(path))
    with pytest.raises(ValueError, match="read-only"):
        arr[0, 0] = 1
    assert read_label_png(path).flags.writeable  # a plain read is the caller's own array


def test_an_images_samples_share_its_maps_and_get_np_where_s_ground_truth(tmp_path):
    """The OV-PARTS reader decodes an image's two maps once for all of its samples; each sample's ground truth is
    what `np.where(object, part, ignore)` gave before (values and type), for 8- and 16-bit part maps."""
    suite = load_suite("pascal-part-116")
    base = tmp_path / "PascalPart116"
    part = np.full((6, 8), 255, np.uint16)
    obj = np.full((6, 8), 255, np.uint8)
    obj[:3, :4], part[:3, :4] = suite.object_classes.index("dog"), suite.classes.index("dog's head")
    obj[3:, 4:], part[3:, 4:] = suite.object_classes.index("person"), suite.classes.index("person's head")
    part[5, 7] = 255
    for sub in ("annotations_detectron2_part", "annotations_detectron2_obj"):
        (base / sub / "val").mkdir(parents=True)
    (base / "images/val").mkdir(parents=True)
    Image.new("RGB", (8, 6)).save(base / "images/val/a.jpg")
    Image.fromarray(obj).save(base / "annotations_detectron2_obj/val/a.png")
    for bits, arr in ((8, part.astype(np.uint8)), (16, part)):
        Image.fromarray(arr).save(base / "annotations_detectron2_part/val/a.png")
        reader = make_reader(suite, tmp_path)
        refs = reader.index("val").refs
        samples = [reader.load(r) for r in refs]
        assert [s.object_class for s in samples] == ["dog", "person"]
        decoded, _ = reader._maps.get(("val", "a"))
        for s, ref in zip(samples, refs):
            expected = np.where(obj == ref.extra["object_id"], decoded, 255)
            assert s.part_label_map.dtype == expected.dtype == (np.uint8 if bits == 8 else np.uint16)
            assert np.array_equal(s.part_label_map, expected) and s.part_label_map.flags.writeable
