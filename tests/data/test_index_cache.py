"""The sample index is kept per data root: a second listing reads no .mat file, an edited .mat is read again alone,
and the cached index equals a fresh one."""

from __future__ import annotations

import os
import shutil

from helpers.datasets import build_pascal_part

from partbench.data import pascal_part
from partbench.data.index_cache import cached_index
from partbench.suites import load_suite

SUITE = load_suite("pascal-part")


def _refs(index):
    return [(r.id, r.image_id, r.image_path.resolve(), r.object_class, r.extra) for r in index.refs]


def test_index_is_cached_and_rebuilt_where_files_changed(tmp_path, monkeypatch):
    build_pascal_part(tmp_path, SUITE)
    fresh = SUITE.make_reader(tmp_path).index("val")
    reads: list[str] = []
    real = pascal_part.read_annotation
    monkeypatch.setattr(pascal_part, "read_annotation", lambda path: reads.append(path.stem) or real(path))

    first = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    assert _refs(first) == _refs(fresh) and first.skipped == fresh.skipped
    assert sorted(reads) == ["2008_000001", "2008_000002", "2008_000003"]

    reads.clear()
    again = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    assert reads == [] and _refs(again) == _refs(fresh) and again.skipped == fresh.skipped

    # A .mat rewritten (here: another image's objects) is read again, alone, and its samples follow.
    mat = tmp_path / "pascal-part/Annotations_Part/2008_000002.mat"
    stat = mat.stat()
    shutil.copy(tmp_path / "pascal-part/Annotations_Part/2008_000003.mat", mat)
    os.utime(mat, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    reads.clear()
    edited = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    assert reads == ["2008_000002"]
    assert _refs(edited) == _refs(SUITE.make_reader(tmp_path).index("val"))

    # The annotation that was missing appears: indexed, and the image it names must exist.
    (tmp_path / "VOCdevkit/VOC2010/JPEGImages/2008_000005.jpg").write_bytes(
        (tmp_path / "VOCdevkit/VOC2010/JPEGImages/2008_000003.jpg").read_bytes())
    shutil.copy(tmp_path / "pascal-part/Annotations_Part/2008_000003.mat",
                tmp_path / "pascal-part/Annotations_Part/2008_000005.mat")
    reads.clear()
    grown = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    assert reads == ["2008_000005"] and grown.skipped["no_part_annotation"] == 0
    assert any(r.image_id == "2008_000005" for r in grown.refs)


def test_a_split_list_change_rebuilds_everything(tmp_path, monkeypatch):
    build_pascal_part(tmp_path, SUITE)
    cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    split_file = tmp_path / "VOCdevkit/VOC2010/ImageSets/Main/val.txt"
    split_file.write_text("2008_000001\n2008_000002\n")
    reads: list[str] = []
    real = pascal_part.read_annotation
    monkeypatch.setattr(pascal_part, "read_annotation", lambda path: reads.append(path.stem) or real(path))
    index = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    assert sorted(reads) == ["2008_000001", "2008_000002"]
    assert {r.image_id for r in index.refs} == {"2008_000001", "2008_000002"}


def test_a_parallel_build_equals_the_serial_one_and_reports_a_bad_file(tmp_path, monkeypatch):
    import pytest

    from partbench.errors import PartbenchError

    build_pascal_part(tmp_path, SUITE)
    serial = SUITE.make_reader(tmp_path).index("val")
    monkeypatch.setenv("PARTBENCH_INDEX_WORKERS", "2")  # forked workers even for three images
    parallel = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    assert _refs(parallel) == _refs(serial) and parallel.skipped == serial.skipped

    monkeypatch.setenv("PARTBENCH_CACHE", str(tmp_path / "other-cache"))
    (tmp_path / "pascal-part/Annotations_Part/2008_000002.mat").write_bytes(b"not a mat file")
    with pytest.raises(PartbenchError, match="2008_000002.mat"):
        cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    monkeypatch.setenv("PARTBENCH_INDEX_WORKERS", "two")
    with pytest.raises(PartbenchError, match="PARTBENCH_INDEX_WORKERS"):
        cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")


def test_an_image_that_goes_and_comes_back_is_indexed_again(tmp_path, monkeypatch):
    """A unit's stats hold its files' absence: the image of a .mat that is there is left out while its JPEG is
    missing (counted, its .mat not read), and indexed again, alone, once the JPEG is back."""
    build_pascal_part(tmp_path, SUITE)
    full = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    reads: list[str] = []
    real = pascal_part.read_annotation
    monkeypatch.setattr(pascal_part, "read_annotation", lambda path: reads.append(path.stem) or real(path))
    jpeg = tmp_path / "VOCdevkit/VOC2010/JPEGImages/2008_000002.jpg"
    content = jpeg.read_bytes()
    jpeg.unlink()
    gone = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    assert reads == [] and gone.skipped["missing_files"] == 1
    assert _refs(gone) == [r for r in _refs(full) if r[1] != "2008_000002"]
    assert cached_index(SUITE.make_reader(tmp_path), tmp_path, "val").skipped == gone.skipped  # kept as such
    # What a fit on the split reads (and fingerprints) follows the index.
    assert "2008_000002" not in {p.stem for p in SUITE.make_reader(tmp_path).annotation_files("val")}
    jpeg.write_bytes(content)
    back = cached_index(SUITE.make_reader(tmp_path), tmp_path, "val")
    assert reads == ["2008_000002"] and _refs(back) == _refs(full) and back.skipped == full.skipped
    assert "missing_files" not in back.skipped
