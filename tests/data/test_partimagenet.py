"""PartImageNet (zero-shot and OOD) on miniatures of the prepared layouts (COCO polygons, compressed and uncompressed
RLE), and the cross-dataset PartImageNet -> Pascal-Part-116 definition."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.datasets import IGNORE16, build_partimagenet, official_scores, write_predictions
from typer.testing import CliRunner

from partbench.cli.main import app
from partbench.errors import PartbenchError
from partbench.run import RunRequest, run
from partbench.suites import SUITES_DIR, load_suite

ZS = load_suite("partimagenet")
OOD = load_suite("partimagenet-ood")
ZS_SPEC = json.loads((SUITES_DIR / "classes/partimagenet_zero_shot.json").read_text())
OOD_SPEC = json.loads((SUITES_DIR / "classes/partimagenet_ood.json").read_text())


@pytest.fixture
def zero_shot(tmp_path):
    return tmp_path, build_partimagenet(tmp_path, ZS, ZS_SPEC)


@pytest.fixture
def ood(tmp_path):
    exp = build_partimagenet(tmp_path, OOD, OOD_SPEC, folder="PartImageNet_OOD", seen_obj="bald eagle",
                             unseen_obj="ice bear", train_seen_only=False)
    return tmp_path, exp


def test_suite_definitions():
    assert (ZS.num_classes, len(ZS.seen_ids), len(ZS.unseen_ids), len(ZS.object_classes)) == (147, 92, 55, 40)
    assert (OOD.num_classes, len(OOD.seen_ids), len(OOD.unseen_ids), len(OOD.object_classes)) == (482, 410, 72, 128)
    assert ZS.ignore_label == OOD.ignore_label == 65535


def test_zero_shot_reader_rasterises_in_annotation_order(zero_shot):
    root, exp = zero_shot
    reader = ZS.make_reader(root)
    for split in ("val", "train"):
        index = reader.index(split)
        assert [r.id for r in index.refs] == sorted(exp[split].ids)  # file-name order
        for ref in index.refs:
            sample = reader.load(ref)
            assert sample.object_class == exp[split].objects[ref.id]
            np.testing.assert_array_equal(sample.part_label_map, exp[split].gt[ref.id])
            np.testing.assert_array_equal(sample.object_mask, exp[split].gt[ref.id] != IGNORE16)
    assert reader.index("val").skipped["other_objects"] == 1       # n99999999 is not one of the 40 objects
    assert reader.index("train").skipped["unseen_in_train"] == 1   # as the official preprocessing deletes it


def test_synset_mapping_file_is_used_when_present(zero_shot):
    root, _ = zero_shot
    # A LOC_synset_mapping.txt naming the ice bear's synset differently moves its image out of the suite.
    (root / "LOC_synset_mapping.txt").write_text(
        f"{ZS_SPEC['object_synsets']['ice bear']} polar bear, ice bear\n"
        f"{ZS_SPEC['object_synsets']['warplane']} warplane, military plane\n")
    index = ZS.make_reader(root).index("val")
    assert [r.object_class for r in index.refs] == ["warplane"]
    assert index.skipped["other_objects"] == 2


def test_oracle_and_score_agree_with_the_official_rule(zero_shot, tmp_path):
    root, exp = zero_shot
    res = run(RunRequest(method="oracle", suite=ZS.name, data_root=root, output_root=tmp_path / "runs",
                         bootstrap=0)).results
    assert res["metrics"]["h_iou"] == pytest.approx(100)
    P = {c: i for i, c in enumerate(ZS.classes)}
    preds = {s: exp["val"].gt[s].copy() for s in exp["val"].ids}
    bear, plane = exp["val"].ids  # built in this order
    preds[bear][0:2, 0:3] = P["ice bear's head"]     # 6 body pixels called head
    preds[plane][0:6, 2] = P["warplane's body"]      # the wing's column 2 (6 pixels) called body
    folder = write_predictions(tmp_path / "preds", preds)
    out = tmp_path / "res.json"
    result = CliRunner().invoke(app, ["score", "-s", ZS.name, "-p", str(folder), "--data-root", str(root),
                                      "-o", str(out), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())["metrics"]
    want = official_scores([(exp["val"].gt[s], preds[s]) for s in exp["val"].ids], list(ZS.classes),
                           set(ZS.unseen_objects), IGNORE16)
    for key in ("seen_miou", "unseen_miou", "miou", "h_iou"):
        assert got[key] == pytest.approx(want[key])
    # By hand. Bear: body rectangle 20 px minus the 4 the later head covers = 16, head 6, foot 4; 6 body pixels
    # predicted head -> head 6/12, body 10/16, foot 1. Plane: the wing (12 px, drawn last) covers 4 of the body's
    # 14 -> body 10; 6 wing pixels predicted body -> body 10/16, wing 6/12.
    assert got["unseen_miou"] == pytest.approx(100 * (6 / 12 + 10 / 16 + 1) / 3)
    assert got["seen_miou"] == pytest.approx(100 * (10 / 16 + 6 / 12) / 2)


def test_ood_reports_unseen_only(ood, tmp_path):
    root, exp = ood
    reader = OOD.make_reader(root)
    assert [r.id for r in reader.index("val").refs] == sorted(exp["val"].ids)  # file-name order
    with pytest.raises(PartbenchError, match="2957 expected"):  # a fixture, not the documented release
        run(RunRequest(method="oracle", suite=OOD.name, data_root=root, output_root=tmp_path / "runs", bootstrap=0))
    res = run(RunRequest(method="oracle", suite=OOD.name, data_root=root, output_root=tmp_path / "runs",
                         bootstrap=0, allow_incomplete_data=True)).results
    assert res["data"]["complete"] is False
    assert res["metrics"]["unseen_miou"] == pytest.approx(100)
    assert res["metrics"]["seen_miou"] is None and res["metrics"]["h_iou"] is None
    result = CliRunner().invoke(app, ["table", str(tmp_path / "runs"), "--format", "markdown", "--no-published"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| oracle"))
    seen, unseen, h = [c.strip() for c in row.split("|")[2:5]]
    assert (seen, unseen, h) == ("—", "100.00", "—")  # no meaningless h-IoU
    assert "only unseen objects" in result.output


def test_unknown_part_for_object_names_the_file(zero_shot):
    root, _ = zero_shot
    path = root / "PartImageNet/val.json"
    doc = json.loads(path.read_text())
    cat = {c["name"]: c["id"] for c in ZS_SPEC["part_categories_coco"]}
    doc["annotations"][0]["category_id"] = cat["Boat Sail"]  # a sail on an ice bear
    path.write_text(json.dumps(doc))
    reader = ZS.make_reader(root)
    with pytest.raises(PartbenchError, match=r"val.json: annotation \d+ of .*ice bear's sail"):
        reader.load(reader.index("val").refs[0])


def test_cross_dataset_definition():
    cross = load_suite("partimagenet-to-pascal-part-116")
    p116 = load_suite("pascal-part-116")
    assert cross.classes == p116.classes and cross.dataset_dir == p116.dataset_dir
    unseen_objects = {c.split("'s ")[0] for i, c in enumerate(cross.classes) if cross.unseen_mask[i]}
    assert unseen_objects == {"person", "pottedplant", "train", "tvmonitor"}
    # Every other part-bearing Pascal object falls under one of PartImageNet's 11 superclasses.
    superclass = {"aeroplane": "Aeroplane", "bicycle": "Bicycle", "motorbike": "Bicycle", "bird": "Bird",
                  "bottle": "Bottle", "bus": "Car", "car": "Car", "cat": "Quadruped", "cow": "Quadruped",
                  "dog": "Quadruped", "horse": "Quadruped", "sheep": "Quadruped"}
    seen_objects = {c.split("'s ")[0] for i, c in enumerate(cross.classes) if not cross.unseen_mask[i]}
    assert seen_objects == set(superclass)
    assert set(superclass.values()) <= {c["supercategory"] for c in ZS_SPEC["part_categories_coco"]}
    assert cross.headline_metrics == ("seen_miou", "unseen_miou", "h_iou", "miou")


def test_a_spatial_prior_fitted_without_a_train_image_is_not_reused_once_it_is_back(zero_shot):
    """PartImageNet's annotations are one JSON per split, so the files a fit is fingerprinted on do not change when
    an image goes missing; what is missing is part of the fingerprint instead."""
    from partbench.adapters.spatial_prior import SpatialPrior

    root, _ = zero_shot
    kwargs = dict(suite=ZS, data_root=root, args={"allow_incomplete_train": "true"})
    (image,) = (root / "PartImageNet" / "images" / "train").glob("*_5.JPEG")
    image.rename(image.with_suffix(".bak"))
    without = SpatialPrior.fingerprint_for(**kwargs)
    image.with_suffix(".bak").rename(image)
    assert SpatialPrior.fingerprint_for(**kwargs) != without
