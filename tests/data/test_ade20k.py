"""ADE20K-Part-234: the reader on a miniature of the OV-PARTS layout (uint16 PNGs with 65535, COCO instances as
polygons, compressed and uncompressed RLE), the official test-set rule, and scoring against the official rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.datasets import IGNORE16, build_ade, official_scores, write_predictions
from typer.testing import CliRunner

from partbench.cli.main import app
from partbench.errors import PartbenchError
from partbench.run import RunRequest, run
from partbench.suites import load_suite

SUITE = load_suite("ade20k-part-234")


@pytest.fixture
def ade(tmp_path):
    return tmp_path, build_ade(tmp_path, SUITE)


def test_suite_definition():
    assert (SUITE.num_classes, len(SUITE.seen_ids), len(SUITE.unseen_ids)) == (234, 176, 58)
    assert SUITE.ignore_label == 65535 and SUITE.version == "1"
    assert SUITE.part_ids_of("chest of drawers")  # object names with spaces match exactly
    # Exact object-name match: the door's parts are not the cabinet's door (the CATSeg substring leak).
    assert "cabinet's door" not in [SUITE.classes[i] for i in SUITE.part_ids_of("door")]


def test_val_is_val_instances_plus_unseen_training_instances(ade):
    root, exp = ade
    reader = SUITE.make_reader(root)
    for split in ("val", "train"):
        index = reader.index(split)
        assert [r.id for r in index.refs] == exp[split].ids
        for ref in index.refs:
            sample = reader.load(ref)
            assert sample.object_class == exp[split].objects[ref.id]
            np.testing.assert_array_equal(sample.part_label_map, exp[split].gt[ref.id])
            assert sample.object_mask.sum() == (exp[split].gt[ref.id] != IGNORE16).sum() + (
                1 if ref.id == "ADE_val_00000001__11" else 0)  # the unlabelled person pixel is object, not part


def test_oracle_scores_100(ade, tmp_path):
    root, _ = ade
    res = run(RunRequest(method="oracle", suite=SUITE.name, data_root=root, output_root=tmp_path / "runs",
                         bootstrap=0)).results
    assert res["n_samples"] == 3
    assert res["metrics"]["seen_miou"] == pytest.approx(100) and res["metrics"]["unseen_miou"] == pytest.approx(100)


def test_score_agrees_with_the_official_rule(ade, tmp_path):
    root, exp = ade
    P = {c: i for i, c in enumerate(SUITE.classes)}
    preds = {}
    for sid in exp["val"].ids:
        gt = exp["val"].gt[sid].copy()
        preds[sid] = gt
    preds["ADE_val_00000001__11"][2:4, 0:4] = P["person's head"]       # 8 torso pixels called head
    preds["ADE_val_00000001__12"][:, 7] = P["bus's window"]             # 4 wheel pixels called window
    preds["ADE_train_00000001__22"][0:2, 3:6] = P["bench's leg"]         # the bench's seat called leg
    folder = write_predictions(tmp_path / "preds", preds)
    out = tmp_path / "res.json"
    result = CliRunner().invoke(app, ["score", "--suite", SUITE.name, "--predictions", str(folder), "--data-root",
                                      str(root), "--output", str(out), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())["metrics"]
    want = official_scores([(exp["val"].gt[s], preds[s]) for s in exp["val"].ids], list(SUITE.classes),
                           set(SUITE.unseen_objects), IGNORE16)
    for key in ("seen_miou", "unseen_miou", "miou", "h_iou"):
        assert got[key] == pytest.approx(want[key])
    # By hand: person's head 8/16, torso 7/15; bus window 6/10, wheel 8/12, bench seat 0/6, bench leg 9/15.
    assert got["seen_miou"] == pytest.approx(100 * (8 / 16 + 7 / 15) / 2)
    assert got["unseen_miou"] == pytest.approx(100 * (6 / 10 + 8 / 12 + 0 + 9 / 15) / 4)


def test_mask_size_mismatch_names_the_file(ade):
    root, _ = ade
    path = root / "ADE20KPart234/ade20k_instance_val.json"
    doc = json.loads(path.read_text())
    doc["images"][0]["height"] = 7
    path.write_text(json.dumps(doc))
    reader = SUITE.make_reader(root)
    with pytest.raises(PartbenchError, match="ADE_val_00000001.png: part map is 8x6"):
        reader.load(reader.index("val").refs[0])


def test_bad_category_names_the_file(ade):
    root, _ = ade
    path = root / "ADE20KPart234/ade20k_instance_val.json"
    doc = json.loads(path.read_text())
    doc["annotations"][0]["category_id"] = 44
    path.write_text(json.dumps(doc))
    with pytest.raises(PartbenchError, match="ade20k_instance_val.json: category_id 44"):
        SUITE.make_reader(root).index("val")
