"""The OV-PARTS Pascal-Part-116 reader on a hand-made miniature of the official layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from partbench.data.readers import make_reader
from partbench.errors import DataNotFoundError, PartbenchError
from partbench.run import RunRequest, run
from partbench.suites import load_suite

SUITE = load_suite("pascal-part-116")
OBJ = {name: i for i, name in enumerate(SUITE.object_classes)}
PART = {name: i for i, name in enumerate(SUITE.classes)}


def _write(root: Path, image_id: str, part: np.ndarray, obj: np.ndarray, split: str = "val") -> None:
    base = root / "PascalPart116"
    for sub, arr in (("annotations_detectron2_part", part), ("annotations_detectron2_obj", obj)):
        (base / sub / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr.astype(np.uint8)).save(base / sub / split / f"{image_id}.png")
    (base / "images" / split).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (part.shape[1], part.shape[0])).save(base / "images" / split / f"{image_id}.jpg")


@pytest.fixture
def pascal_root(tmp_path) -> Path:
    """Image 1: a dog (head + torso), a person (head; one unlabelled pixel) and a boat (no part classes).
    Image 2: a dog with no part labels at all. Plus a macOS `._` file that must be ignored."""
    obj = np.full((6, 8), 255)
    part = np.full((6, 8), 255)
    obj[:3, :4] = OBJ["dog"]
    part[:1, :4] = PART["dog's head"]
    part[1:3, :4] = PART["dog's torso"]
    obj[3:, :4] = OBJ["person"]
    part[3:, :4] = PART["person's head"]
    part[5, 3] = 255
    obj[:, 5:] = OBJ["boat"]
    _write(tmp_path, "2008_000001", part, obj)
    obj2 = np.full((4, 4), 255)
    obj2[1:3, 1:3] = OBJ["dog"]
    _write(tmp_path, "2008_000002", np.full((4, 4), 255), obj2)
    (tmp_path / "PascalPart116/annotations_detectron2_part/val/._2008_000001.png").write_bytes(b"\x00junk")
    return tmp_path


def test_samples_are_image_object_pairs(pascal_root):
    reader = make_reader(SUITE, pascal_root)
    index = reader.index("val")
    assert [r.id for r in index.refs] == ["2008_000001__dog", "2008_000001__person", "2008_000002__dog"]
    assert index.skipped["no_part_classes"] == 1  # the boat
    dog = reader.load(index.refs[0])
    assert dog.object_mask.sum() == 12
    # Part ground truth outside the sample's object is ignored: the person's head does not appear in the dog sample.
    assert set(np.unique(dog.part_label_map)) == {PART["dog's head"], PART["dog's torso"], 255}
    assert not reader.load(index.refs[2]).has_labels


def test_label_count_json_gives_the_same_samples(pascal_root):
    expected = [r.id for r in make_reader(SUITE, pascal_root).index("val").refs]
    counts = {"2008_000001.png": [OBJ["dog"], OBJ["person"], OBJ["boat"]], "2008_000002.png": [OBJ["dog"]]}
    path = pascal_root / "PascalPart116/annotations_detectron2_part/val_obj_label_count.json"
    path.write_text(json.dumps(counts))
    assert [r.id for r in make_reader(SUITE, pascal_root).index("val").refs] == expected


def test_oracle_run_scores_100_and_counts_skips(pascal_root, tmp_path):
    outcome = run(RunRequest(method="oracle", suite="pascal-part-116", data_root=pascal_root,
                             output_root=tmp_path / "runs", bootstrap=0))
    res = outcome.results
    assert res["n_samples"] == 2
    assert res["n_skipped"] == {"no_part_classes": 1, "empty_ground_truth": 1}
    assert res["metrics"]["seen_miou"] == pytest.approx(100.0)  # person's head is seen
    assert res["metrics"]["unseen_miou"] == pytest.approx(100.0)  # dog is unseen
    per_class = {c["name"]: c for c in res["per_class"]}
    assert per_class["person's head"]["gt_pixels"] == 11 and per_class["dog's torso"]["gt_pixels"] == 8
    assert per_class["dog's head"]["seen"] is False


def test_random_is_restricted_to_the_oracle_object(pascal_root, tmp_path):
    outcome = run(RunRequest(method="random", suite="pascal-part-116", data_root=pascal_root,
                             output_root=tmp_path / "runs", bootstrap=0))
    pred = np.array(Image.open(outcome.run_dir / "predictions" / "2008_000001__dog.png"))
    dog_parts = {PART[c] for c in SUITE.classes if c.startswith("dog's ")}
    assert set(np.unique(pred[:3, :4])) <= dog_parts
    assert (pred[3:, :] == 255).all() and (pred[:, 4:] == 255).all()  # nothing predicted off the object


@pytest.mark.parametrize("damage, message", [
    ("object_id", "object label 40 is out of range"),
    ("part_id", "part label 200 is out of range"),
    ("size", "object map is 8x5 but part map"),
])
def test_bad_annotations_name_the_file(pascal_root, damage, message):
    base = pascal_root / "PascalPart116"
    obj_path = base / "annotations_detectron2_obj/val/2008_000001.png"
    part_path = base / "annotations_detectron2_part/val/2008_000001.png"
    obj, part = np.array(Image.open(obj_path)), np.array(Image.open(part_path))
    if damage == "object_id":
        obj[0, 0] = 40
        Image.fromarray(obj).save(obj_path)
    elif damage == "part_id":
        part[0, 0] = 200
        Image.fromarray(part).save(part_path)
    else:
        Image.fromarray(obj[:-1]).save(obj_path)
    reader = make_reader(SUITE, pascal_root)
    with pytest.raises(PartbenchError, match=message) as err:
        for ref in reader.index("val").refs:
            reader.load(ref)
    assert "2008_000001.png" in str(err.value)


def test_missing_data_says_what_to_download(tmp_path):
    with pytest.raises(DataNotFoundError, match="PascalPart116.*not found") as err:
        make_reader(SUITE, tmp_path).check("val")
    assert "gdown" in str(err.value)
    (tmp_path / "PascalPart116/images/val").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="annotations_detectron2_part/val"):
        make_reader(SUITE, tmp_path).check("val")
