"""Reading Partonomy's released QA file (partbench.data.partonomy, partonomy_masks): question types, ids, masks
(OR-ed annotations, RLE of both kinds, polygons, upstream's resize), EXIF orientation, and refusals naming the
entry. Expected masks are worked out by hand in the comments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from partbench.data.partonomy_masks import annotation_mask, image_size, read_image
from partbench.errors import PartbenchError
from partbench.suites import load_suite


def rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def record(image: str, qtype: str, parts: list[str], segmentations: dict, question: str = "Q?") -> dict:
    return {"image_path": image, "image_label": "thing", "question": question, "question_type": qtype,
            "answer_choices": ["right", "wrong"], "answer_types": ["correct", "incorrect"],
            "answer_parts": [parts, ["thing--part:other"]], "segmentations": segmentations}


def write_dataset(root: Path, records: list[dict], images: dict[str, tuple[int, int]]) -> Path:
    folder = root / "partonomy-core"
    for name, (h, w) in images.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (10, 20, 30)).save(folder / name)
    (folder / "partonomy_qa_pairs.json").write_text(json.dumps(records))
    return folder


def reader(root: Path):
    return load_suite("partonomy-core").make_reader(root)


def test_question_types_map_exactly_and_ids_are_stable(tmp_path):
    seg = {"thing--part:a": [rle(np.ones((2, 2)))]}
    types = ["identification_with_label", "positive_with_label", "negative_with_label", "difference",
             "difference_with_label", "whole_to_part", "part_to_whole", "identification_with_label"]
    write_dataset(tmp_path, [record("images/x.png", t, ["thing--part:a"], seg) for t in types],
                  {"images/x.png": (2, 2)})
    index = reader(tmp_path).index("val")
    kinds = [r.extra["record"].kind for r in index.refs]
    assert kinds == ["identification", "intersection", "difference", "common_but_not_unlabelled", "common_but_not",
                     "whole_to_part", "part_to_whole", "identification"]
    assert [r.id for r in index.refs][:2] == ["x__identification_with_label", "x__positive_with_label"]
    assert index.refs[-1].id == "x__identification_with_label__2"  # same image and type again


def test_masks_or_rle_kinds_polygon(tmp_path):
    segs = {
        # two annotations OR-ed: pixels 0 and 1 of a 1x4 image; one wrapped in {"segmentation": ...}
        "thing--part:left": [rle(np.array([[1, 0, 0, 0]])), {"segmentation": rle(np.array([[0, 1, 0, 0]]))}],
        # uncompressed RLE: 2 zeros, 1 one, 1 zero = pixel 2
        "thing--part:mid": [{"size": [1, 4], "counts": [2, 1, 1]}],
        # polygon (3,0)-(4,0)-(4,1)-(3,1): pycocotools covers [3,4) x [0,1) = pixel 3
        "thing--part:right": [{"size": [1, 4], "polygon": [3, 0, 4, 0, 4, 1, 3, 1]}],
    }
    write_dataset(tmp_path, [record("images/a.png", "identification_with_label",
                                    ["thing--part:left", "thing--part:mid", "thing--part:right"], segs)],
                  {"images/a.png": (1, 4)})
    r = reader(tmp_path)
    sample = r.load(r.index("val").refs[0])
    assert sample.gt_masks.astype(int).tolist() == [[[1, 1, 0, 0]], [[0, 0, 1, 0]], [[0, 0, 0, 1]]]
    assert sample.part_phrases == ["thing's left", "thing's mid", "thing's right"]


def test_polygon_coordinates_truncate_like_upstream():
    # (1.7, 0.2) (4.9, 0) (4.2, 1.9) (1.0, 1.0) -> (1,0) (4,0) (4,1) (1,1): columns 1-3 of row 0
    got = annotation_mask({"size": [2, 6], "polygon": [1.7, 0.2, 4.9, 0.0, 4.2, 1.9, 1.0, 1.0]}, (2, 6), "x")
    assert got.astype(int).tolist() == [[0, 1, 1, 1, 0, 0], [0] * 6]


def test_resize_is_upstreams_interpolating_resize():
    # Widening [0, 1, 0] to 5 (INTER_LINEAR, half-pixel centres): source x = 0.6 i - 0.2 -> weights give values
    # 0, 0.4, 1, 0.4, 0 -> only the middle pixel is >= 0.5 (nearest neighbour would give 0 0 1 1 0).
    got = annotation_mask({"size": [1, 3], "counts": [1, 1, 1]}, (1, 5), "x")
    assert got.astype(int).tolist() == [[0, 0, 1, 0, 0]]
    # Shrinking 2x4 to 1x2 (INTER_AREA): each output pixel averages a 2x2 block; 3/4 -> in, 1/4 -> out.
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0]])
    assert annotation_mask(rle(mask), (1, 2), "x").astype(int).tolist() == [[1, 0]]
    # A block exactly half full rounds up (uint8 rounding of 0.5).
    mask = np.array([[1, 0, 0, 0], [1, 0, 0, 0]])
    assert annotation_mask(rle(mask), (1, 2), "x").astype(int).tolist() == [[1, 0]]


def test_exif_orientation_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: a 4-wide, 2-high file shows 2 wide and 4 high
    Image.new("RGB", (4, 2), (200, 0, 0)).save(path, exif=exif)
    assert image_size(path) == (4, 2)
    assert read_image(path).shape == (4, 2, 3)


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(question_type="positivity"), "unknown question_type 'positivity'"),
    (lambda r: r.update(answer_types=["correct", "correct"]), "exactly one 'correct'"),
    (lambda r: r["segmentations"]["thing--part:a"][0].pop("size"), "'size' must be [height, width]"),
    (lambda r: r["segmentations"]["thing--part:a"][0].update(counts="garbage!"), "malformed"),
    (lambda r: r["segmentations"]["thing--part:a"][0].update(counts=[1, 2]), "summing to 2x2"),
])
def test_bad_entries_are_refused_by_name(tmp_path, change, message):
    raw = record("images/x.png", "identification_with_label", ["thing--part:a"],
                 {"thing--part:a": [rle(np.ones((2, 2)))]})
    change(raw)
    write_dataset(tmp_path, [raw], {"images/x.png": (2, 2)})
    with pytest.raises(PartbenchError, match="partonomy_qa_pairs.json") as e:
        r = reader(tmp_path)
        r.load(r.index("val").refs[0])
    assert message in str(e.value)


def test_unscorable_records_are_skipped_and_counted(tmp_path):
    seg = {"thing--part:a": [rle(np.ones((2, 2)))]}
    write_dataset(tmp_path, [record("images/x.png", "identification_with_label", ["thing--part:a"], seg),
                             record("images/x.png", "positive_with_label", ["thing--part:b"], seg),
                             record("images/x.png", "negative_with_label", [], seg)], {"images/x.png": (2, 2)})
    index = reader(tmp_path).index("val")
    assert len(index.refs) == 1
    assert index.skipped == {"no_answer_parts": 1, "part_without_annotation": 1}


def test_image_paths_from_another_machine_resolve(tmp_path):
    seg = {"thing--part:a": [rle(np.ones((2, 2)))]}
    folder = write_dataset(tmp_path, [record("/data/someone/partonomy/images/sub/x.png", "whole_to_part",
                                             ["thing--part:a"], seg)], {"images/sub/x.png": (2, 2)})
    ref = reader(tmp_path).index("val").refs[0]
    assert ref.image_path == folder / "images" / "sub" / "x.png" and ref.id == "sub-x__whole_to_part"
