"""The fine-grained Pascal-Part suite on .mat files written with scipy.io.savemat in the official struct layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from helpers.datasets import build_pascal_part, official_scores, rect_mask, save_mat, write_predictions
from typer.testing import CliRunner

from partbench.cli.main import app
from partbench.data.pascal_part import read_annotation
from partbench.errors import PartbenchError
from partbench.run import RunRequest, run
from partbench.suites import load_suite

SUITE = load_suite("pascal-part")


@pytest.fixture
def pascal(tmp_path):
    return tmp_path, build_pascal_part(tmp_path, SUITE)


def test_class_list_keeps_fine_grained_words_and_merges_enumerations():
    assert SUITE.task == "part-instance" and SUITE.num_classes == 193
    assert "person's left lower arm" in SUITE.classes and "cow's right back upper leg" in SUITE.classes
    assert "car's front license plate" in SUITE.classes
    assert SUITE.classes.count("car's wheel") == 1 and "car's wheel 3" not in SUITE.classes
    assert "table" in SUITE.object_classes and not SUITE.part_ids_of("table")
    names = {(SUITE.classes[a], SUITE.classes[b]) for a, b in SUITE.mirrored_pairs}
    assert ("person's left lower arm", "person's right lower arm") in names
    assert ("horse's left front hoof", "horse's right front hoof") in names
    assert ("bus's left mirror", "bus's right mirror") in names
    assert len(SUITE.mirrored_pairs) == 54
    assert {SUITE.classes[i].split("'s ")[0] for i in SUITE.unseen_ids} == {"bird", "car", "dog", "motorbike", "sheep"}


def test_mat_shapes_scipy_returns(pascal):
    root, _ = pascal
    ann = root / "pascal-part/Annotations_Part"
    raw = scipy.io.loadmat(str(ann / "2008_000002.mat"), simplify_cells=True)["anno"]
    assert isinstance(raw["objects"], dict) and isinstance(raw["objects"]["parts"], dict)  # one object, one part
    raw = scipy.io.loadmat(str(ann / "2008_000003.mat"), simplify_cells=True)["anno"]
    assert raw["objects"][0]["class"] == "table" and raw["objects"][0]["parts"].size == 0  # no parts
    name, objects = read_annotation(ann / "2008_000002.mat")
    assert name == "2008_000002" and [p.name for p in objects[0].parts] == ["wheel_3"]
    _, objects = read_annotation(ann / "2008_000003.mat")
    assert [(o.class_name, len(o.parts)) for o in objects] == [("table", 0), ("tvmonitor", 0)]


def test_reader_samples_are_instances(pascal):
    root, exp = pascal
    reader = SUITE.make_reader(root)
    index = reader.index("val")
    assert [r.id for r in index.refs] == exp["val"].ids + ["2008_000003__tvmonitor_2"]
    assert index.skipped["no_part_classes"] == 1 and index.skipped["no_part_annotation"] == 1
    for ref in index.refs[:-1]:
        np.testing.assert_array_equal(reader.load(ref).part_label_map, exp["val"].gt[ref.id])
    assert not reader.load(index.refs[-1]).has_labels  # tvmonitor without parts: skipped when scored
    assert [r.id for r in reader.index("train").refs] == exp["train"].ids


def test_oracle_run_and_lr_confusion(pascal, tmp_path):
    root, exp = pascal
    # The fixture's val.txt lists 2008_000005, which has neither image nor .mat: incomplete data, scored on request.
    res = run(RunRequest(method="oracle", suite=SUITE.name, data_root=root, output_root=tmp_path / "runs",
                         bootstrap=0, allow_incomplete_data=True)).results
    assert res["data"]["complete"] is False and any("2008_000005.mat" in p for p in res["data"]["problems"])
    assert res["n_samples"] == 3 and res["n_skipped"]["empty_ground_truth"] == 1
    assert res["metrics"]["h_iou"] == pytest.approx(100) and res["metrics"]["lr_confusion"] == pytest.approx(0)

    P = {c: i for i, c in enumerate(SUITE.classes)}
    preds = {s: exp["val"].gt[s].copy() for s in exp["val"].ids}
    person = "2008_000001__person_1"
    preds[person][0:3, 0:2] = P["person's right lower arm"]   # the whole left arm (6 px) mirrored
    preds[person][0:1, 2:4] = P["person's left lower arm"]    # 2 of the right arm's 6 px mirrored
    preds["2008_000001__dog_2"][2:6, 5] = P["dog's head"]     # 4 leg pixels called head
    folder = write_predictions(tmp_path / "preds", preds)
    out = tmp_path / "res.json"
    result = CliRunner().invoke(app, ["score", "-s", SUITE.name, "-p", str(folder), "--data-root", str(root),
                                      "-o", str(out), "--bootstrap", "0", "--allow-missing",
                                      "--allow-incomplete-data"])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    want = official_scores([(exp["val"].gt[s], preds[s]) for s in exp["val"].ids], list(SUITE.classes),
                           set(SUITE.unseen_objects), 255)
    for key in ("seen_miou", "unseen_miou", "miou", "h_iou"):
        assert doc["metrics"][key] == pytest.approx(want[key])
    # Left/right confusion by hand, pooled over the pairs with ground truth: the lower arms (12 px, 6 + 2 mirrored),
    # the person's left hand (8 px) and the dog's left front leg (12 px), none mirrored: 8 / 32.
    assert doc["metrics"]["lr_confusion"] == pytest.approx(100 * 8 / 32)
    arms = next(p for p in doc["lr_pairs"] if p["left"] == "person's left lower arm")
    assert (arms["gt_pixels"], arms["confused_pixels"]) == (12, 8)


def test_mask_size_disagreeing_with_image_names_the_file(pascal):
    root, _ = pascal
    path = root / "pascal-part/Annotations_Part/2008_000002.mat"
    save_mat(path, "2008_000002", [{"class": "car", "class_ind": 7, "mask": rect_mask(5, 5, 0, 0, 5, 5),
                                    "parts": [("wheel_1", rect_mask(5, 5, 0, 2, 5, 5))]}])
    reader = SUITE.make_reader(root)
    ref = next(r for r in reader.index("val").refs if r.image_id == "2008_000002")
    with pytest.raises(PartbenchError, match=r"2008_000002.mat: object 1 \(car\) mask is 5x5 but its image is 5x4"):
        reader.load(ref)


def test_unknown_part_name_names_the_file(pascal):
    root, _ = pascal
    path = root / "pascal-part/Annotations_Part/2008_000002.mat"
    save_mat(path, "2008_000002", [{"class": "car", "class_ind": 7, "mask": rect_mask(4, 5, 0, 0, 5, 4),
                                    "parts": [("lfleg", rect_mask(4, 5, 0, 2, 5, 4))]}])
    reader = SUITE.make_reader(root)
    ref = next(r for r in reader.index("val").refs if r.image_id == "2008_000002")
    with pytest.raises(PartbenchError, match="2008_000002.mat: object 1 \\(car\\) has part 'lfleg'"):
        reader.load(ref)


@pytest.mark.parametrize("content", [b"", b"MATLAB 5.0 MAT-file" + b"\0" * 40, b"not a mat file at all " * 20])
def test_an_unreadable_mat_file_is_a_clear_error_naming_it(tmp_path, content):
    path = tmp_path / "2008_000002.mat"
    path.write_bytes(content)
    with pytest.raises(PartbenchError, match=r"2008_000002.mat: cannot read .mat file"):
        read_annotation(path)


def test_a_bug_past_the_read_is_not_reported_as_a_bad_file(tmp_path, monkeypatch):
    path = tmp_path / "2008_000002.mat"
    save_mat(path, "2008_000002", [])

    def broken(*args, **kwargs):
        raise AttributeError("a bug, not a bad file")

    monkeypatch.setattr(scipy.io, "loadmat", broken)
    with pytest.raises(AttributeError, match="a bug"):
        read_annotation(path)
