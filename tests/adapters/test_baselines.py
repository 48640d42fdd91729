"""The weight-free baselines keep the zero-shot protocol: the spatial prior learns from seen objects only."""

from __future__ import annotations

import numpy as np
import pytest

from partbench.adapters.spatial_prior import SpatialPrior
from partbench.errors import PartbenchError
from partbench.suites import load_suite, object_of, part_of


def test_spatial_prior_zero_shot_borrows_same_phrase_counts(demo_root):
    suite = load_suite("demo")
    zero_shot = SpatialPrior(suite=suite, data_root=demo_root, args={}, seed=0)
    everything = SpatialPrior(suite=suite, data_root=demo_root, args={"train_objects": "all"}, seed=0)
    seen_ids = list(suite.seen_ids)
    # Seen classes are counted identically; unseen ones differ (they are borrowed, not counted).
    np.testing.assert_array_equal(zero_shot.counts[:, seen_ids], everything.counts[:, seen_ids])
    for k in suite.unseen_ids:
        phrase = part_of(suite.classes[k])
        donors = [j for j in seen_ids if part_of(suite.classes[j]) == phrase]
        expected = everything.counts[:, donors].sum(axis=1) if donors else np.zeros(len(zero_shot.counts))
        np.testing.assert_array_equal(zero_shot.counts[:, k], expected, err_msg=suite.classes[k])
    assert any(object_of(suite.classes[k]) == "horse" for k in suite.unseen_ids)
    assert zero_shot.fingerprint() != everything.fingerprint()


def test_spatial_prior_rejects_unknown_options(demo_root):
    with pytest.raises(PartbenchError, match="train_objects must be one of seen, all"):
        SpatialPrior(suite=load_suite("demo"), data_root=demo_root, args={"train_objects": "some"}, seed=0)
    with pytest.raises(PartbenchError, match="unknown --method-arg"):
        SpatialPrior(suite=load_suite("demo"), data_root=demo_root, args={"grd": "8"}, seed=0)


def test_spatial_prior_refuses_an_incomplete_train_split_unless_told(demo_root, tmp_path):
    """An annotation deleted from the train split would silently give another prior; the evaluated split's check
    does not see it. Refused by default, naming the image; allowed on request, with the problem in config.json."""
    import json
    import shutil

    from partbench.run import RunRequest, run

    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    (root / "PartbenchDemo" / "annotations_detectron2_part" / "train" / "demo_train_0003.png").unlink()
    req = dict(method="spatial-prior", suite="demo", data_root=root, bootstrap=0, workers=0, output_root=tmp_path)
    with pytest.raises(PartbenchError, match=r"(?s)learns from the 'train' split of 'demo', which is incomplete:.*"
                                             r"demo_train_0003.*allow_incomplete_train=true"):
        run(RunRequest(method_args={}, **req))
    assert not list(tmp_path.rglob("results.json"))

    allowed = run(RunRequest(method_args={"allow_incomplete_train": "true"}, **req))
    train = json.loads((allowed.run_dir / "config.json").read_text())["method_config"]["train_data"]
    assert train["complete"] is False and any("demo_train_0003" in p for p in train["problems"])
    complete = run(RunRequest(method_args={}, **req | {"data_root": demo_root}))
    config = json.loads((complete.run_dir / "config.json").read_text())["method_config"]
    assert config["train_split"] == "train" and config["train_data"]["complete"] is True
