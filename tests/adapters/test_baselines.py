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
