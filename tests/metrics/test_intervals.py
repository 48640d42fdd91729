"""Bootstrap intervals that behave (issue 17, item 6): a replicate computes the statistic the estimate is.

Golden values are worked by hand in the docstrings; the fixtures are built here, per sample, as confusion entries
[pred, gt, pixels] (pred = number of classes: no prediction).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from helpers.cli import invoke

from partbench.leaderboard.results import row_from_result
from partbench.metrics import conventions as cv
from partbench.metrics.partseg import ClassSpace, PartSegScorer, SampleScore
from partbench.metrics.statistics import (
    acceleration,
    bootstrap_intervals,
    jackknife_values,
    resample_counts,
    strata_codes,
)
from partbench.metrics.version import CONVENTION_VERSION

R = 10  # rare parts of object a
RARE_CLASSES = ("a's body", *(f"a's rare {k}" for k in range(1, R + 1)), "b's body")
NONE = len(RARE_CLASSES)  # the "no prediction" row


def _scorer(classes: tuple[str, ...], unseen: tuple[bool, ...], rows: list[tuple[str, list[list[int]]]]):
    scorer = PartSegScorer(ClassSpace(classes, unseen, ignore_label=255))
    for i, (obj, entries) in enumerate(rows):
        scorer.add(SampleScore(i, f"s{i:02d}", np.asarray(entries, dtype=np.int32), obj))
    return scorer


def rare_class_fixture() -> PartSegScorer:
    """30 samples: 20 of object a (seen), 10 of b (unseen). Samples 0-9 each hold the only ground truth of one rare
    part of a (50 px, 45 right, 5 unpredicted); samples 10-19 predict one body pixel as each rare part (false
    positives that stay when a rare part's own sample is not drawn). a's body: 30 px, 18 + i % 3 right.

    a's body IoU = (7·18 + 7·19 + 6·20) / 600 = 379/600; each rare part 45 / (50 + 10) = 3/4.
    seen mIoU = (379/600 + 10 · 3/4) / 11 = 73.92 %; b's body 6 + i % 4 right of 10: unseen mIoU = 73/100.
    """
    rows = []
    for i in range(20):
        right = 18 + i % 3
        entries, missed = [[0, 0, right]], 30 - right
        if i >= 10:
            entries += [[k, 0, 1] for k in range(1, R + 1)]
            missed -= R
        entries.append([NONE, 0, missed])
        if i < 10:
            entries += [[1 + i, 1 + i, 45], [NONE, 1 + i, 5]]
        rows.append(("a", entries))
    for i in range(20, 30):
        rows.append(("b", [[R + 1, R + 1, 6 + i % 4], [NONE, R + 1, 4 - i % 4]]))
    return _scorer(RARE_CLASSES, (False,) * (R + 1) + (True,), rows)


def test_rare_classes_on_30_samples_keep_their_estimate_inside_the_interval():
    """Issue 17's case: seen mIoU 43.40 got [24.23, 42.85]. Here the earlier resampling (replicates over their own
    classes, a rare part whose sample is not drawn counted as a 0 through its false positives) puts the whole
    interval below the estimate; the fixed one contains every estimate."""
    scorer = rare_class_fixture()
    seen, unseen = (379 / 600 + R * 3 / 4) / (R + 1), 0.73
    out = scorer.compute(n_replicates=1000)
    metrics = out["metrics"]
    assert metrics["seen_miou"] == pytest.approx(100 * seen)
    assert metrics["unseen_miou"] == pytest.approx(100 * unseen)
    assert metrics["h_iou"] == pytest.approx(100 * 2 * seen * unseen / (seen + unseen))
    assert metrics["miou"] == pytest.approx(100 * (seen * (R + 1) + unseen) / (R + 2))
    assert set(out["ci95"]) == {"h_iou", "seen_miou", "unseen_miou", "miou"}
    for name, (lo, hi) in out["ci95"].items():
        assert lo <= metrics[name] <= hi, (name, lo, metrics[name], hi)
    assert out["ci_method"].items() >= {"interval": "percentile", "resampling": "within object classes",
                                        "classes": "the full set's", "strata": 2, "replicates": 1000,
                                        "seed": 0}.items()
    assert out["convention_version"] == CONVENTION_VERSION == 4

    # The fixture does reproduce the bias: the earlier bootstrap's seen interval lies below the estimate.
    lo, hi = scorer.intervals(n_replicates=1000, stratified=False, full_set_classes=False)["seen_miou"]
    assert hi < seen - 0.01


def test_replicates_keep_each_object_class_sample_count():
    """Directly: every replicate draws, per stratum, as many samples as the stratum has. Through the scorer: when
    a metric depends on the object mix alone it does not vary at all. 20 samples of a (one class-0 pixel, right)
    and 10 of b (one class-1 pixel, predicted as class 0): IoU0 = 20/30 whatever is drawn within the objects,
    class 1 scores 0, so mIoU = (2/3 + 0) / 2 in every replicate; drawing freely it varies with the a:b mix."""
    labels = ["a"] * 5 + ["b"] * 3 + [None] * 2 + ["a"]
    strata = strata_codes(labels)
    assert len(set(strata[:5])) == 1 and strata[0] == strata[10] and len(set(strata)) == 3
    counts = resample_counts(np.random.default_rng(0), strata, 500)
    for code in np.unique(strata):
        assert (counts[:, strata == code].sum(axis=1) == (strata == code).sum()).all()
    assert counts.std(axis=0).min() > 0  # and they are resampled, not copied

    rows = [("a", [[0, 0, 1]])] * 20 + [("b", [[0, 1, 1]])] * 10
    scorer = _scorer(("a's part", "b's part"), (False, True), rows)
    out = scorer.compute(n_replicates=500)
    assert out["metrics"]["miou"] == pytest.approx(100 / 3)
    assert out["ci95"]["miou"] == pytest.approx([100 / 3, 100 / 3])
    assert out["ci95"]["seen_miou"] == pytest.approx([200 / 3, 200 / 3])
    free = scorer.intervals(n_replicates=500, stratified=False)["miou"]
    assert free[1] - free[0] > 0.05


@pytest.mark.parametrize("convention, lost_gt, partly_missed, no_false_positives", [
    # class 1's ground truth not drawn: left out (ovparts keeps the predicted-only class 2's third as 0)
    ("ovparts", 8 / 11 * 2 / 3, (8 / 11 + 0 + 0) / 3, (8 / 11 + 3 / 7 + 0) / 3),
    ("nanmean", 8 / 11, (8 / 11 + 0) / 2, (8 / 11 + 3 / 7) / 2),
    ("partcatseg", 8 / 11, (8 / 11 + 0) / 2, (8 / 11 + 3 / 7) / 2),
])
def test_a_class_without_ground_truth_in_a_replicate_is_left_out(convention, lost_gt, partly_missed,
                                                                  no_false_positives):
    """Full set: class 0 tp 8, gt 10, pred 9 (IoU 8/11); class 1 tp 3, gt 4, pred 6 (IoU 3/7); class 2 has no
    ground truth and 2 predicted pixels (under ovparts a 0 in the average: (8/11 + 3/7 + 0) / 3).

    - lost_gt: a replicate without class 1's ground truth but with its false positives (tp 0, gt 0, pred 2). Left
      out, not a 0: the mean over the classes with ground truth drawn (8/11) keeps the full set's share of them
      (ovparts: 2 of 3 classes). Counting it as 0 gave (8/11 + 0 + 0) / 3.
    - partly_missed: class 1 drawn but all missed (tp 0, gt 4, pred 2): a 0 in the full set's classes, under
      partcatseg too (its classes are the full set's, IoU > 0 there).
    - no_false_positives: class 2's false positives not drawn: it still counts under ovparts, as in the full set.
    """
    full = (np.array([8.0, 3, 0]), np.array([10.0, 4, 0]), np.array([9.0, 6, 2]))
    ids = np.arange(3)
    replicates = (np.array([[8.0, 0, 0], [8, 0, 0], [8, 3, 0]]), np.array([[10.0, 0, 0], [10, 4, 0], [10, 4, 0]]),
                  np.array([[9.0, 2, 2], [9, 2, 2], [9, 6, 0]]))
    got = cv.replicate_miou(convention, replicates, full, ids)
    assert got == pytest.approx([lost_gt, partly_missed, no_false_positives])
    assert cv.replicate_miou(convention, full, full, ids) == cv.subset_miou(convention, *full, ids)


def test_a_plugin_rule_without_a_class_set_sees_the_lost_class_removed(monkeypatch):
    """A plugin rule (here the earlier ovparts code: Σ IoU over classes with ground truth / #classes with ground
    truth or prediction) cannot say which classes it averages: it is shown the replicate with class 1 removed and
    class 2's false positives as in the full set. Same full set as above: lost_gt gives (8/11 + 0) / 2, a replicate
    without class 2's false positives (8/11 + 3/7 + 0) / 3, the full set (8/11 + 3/7 + 0) / 3."""
    def plain_ovparts(tp, gt, pred, iou):
        return np.where(gt > 0, np.nan_to_num(iou), 0).sum(-1) / ((gt + pred) > 0).sum(-1)

    monkeypatch.setattr(cv, "_rule", lambda name: plain_ovparts)
    full = (np.array([8.0, 3, 0]), np.array([10.0, 4, 0]), np.array([9.0, 6, 2]))
    replicates = (np.array([[8.0, 0, 0], [8, 3, 0]]), np.array([[10.0, 0, 0], [10, 4, 0]]),
                  np.array([[9.0, 2, 2], [9, 6, 0]]))
    got = cv.replicate_miou("plugin", replicates, full, np.arange(3))
    assert got == pytest.approx([8 / 11 / 2, (8 / 11 + 3 / 7) / 3])


def test_bca_matches_scipy_and_the_acceleration_formula():
    """The BCa option (`method="bca"`, compared in benchmarks/ci_coverage.py) against scipy.stats.bootstrap on a
    mean (Σ x / Σ 1 from per-sample [x, 1]); the acceleration against Efron's Σ d³ / (6 (Σ d²)^1.5) with d the
    jackknife values' deviations from their mean."""
    from scipy.stats import bootstrap

    x = np.random.default_rng(3).lognormal(0, 1, size=40)
    per_sample = sp.csr_matrix(np.stack([x, np.ones_like(x)], axis=1))

    def mean(s):
        return {"mean": s[..., 0] / s[..., 1]}

    jack = jackknife_values(per_sample, mean)["mean"]
    assert jack == pytest.approx((x.sum() - x) / (x.size - 1))
    d = jack.mean() - jack
    assert acceleration(jack, np.zeros(x.size, dtype=int)) == pytest.approx(
        np.sum(d ** 3) / (6 * np.sum(d ** 2) ** 1.5))
    ours = bootstrap_intervals(per_sample, mean, n_replicates=20000, seed=0, method="bca")["mean"]
    ref = bootstrap((x,), np.mean, method="BCa", n_resamples=20000, random_state=1).confidence_interval
    width = ref.high - ref.low
    assert ours == pytest.approx((ref.low, ref.high), abs=0.05 * width)
    with pytest.raises(ValueError, match="unknown interval method"):
        bootstrap_intervals(per_sample, mean, n_replicates=10, method="basic")


def test_demo_run_intervals_contain_their_estimates(demo_root):
    """The demo suite end to end (spatial prior, 1000 replicates): every interval holds its estimate, and
    results.json says how the intervals were made and under which convention version."""
    result = invoke("run", "-m", "spatial-prior", "-s", "demo", "--data-root", demo_root, "--bootstrap", "1000")
    assert result.exit_code == 0, result.output
    results = json.loads(next(Path("runs/demo").glob("spatial-prior*/results.json")).read_text())
    assert results["ci95"]
    for name, (lo, hi) in results["ci95"].items():
        assert lo <= results["metrics"][name] <= hi, (name, lo, results["metrics"][name], hi)
    assert results["ci_method"]["resampling"] == "within object classes"
    assert results["ci_method"]["interval"] == "percentile" and results["ci_method"]["replicates"] == 1000
    assert results["convention_version"] == CONVENTION_VERSION


def test_results_of_an_earlier_convention_version_are_stale():
    """A results file from the scorer (it has `ci_method`) without the current `convention_version` is marked
    stale; a hand-written file without `ci_method` is not."""
    base = {"suite": "demo", "method": "m", "metrics": {"h_iou": 50.0}}
    old = row_from_result(base | {"ci_method": {"kind": "percentile bootstrap over samples"}})
    assert old.stale == f"re-run: scored under convention version 1, this partbench's is {CONVENTION_VERSION}"
    assert row_from_result(base | {"ci_method": {}, "convention_version": CONVENTION_VERSION}).stale is None
    assert row_from_result(base).stale is None


def test_lone_samples_of_their_object_are_pooled_not_frozen():
    """Five samples, five objects: resampled within their own object each sample would be drawn every time and the
    interval would have zero width; pooled, the replicates vary as an unstratified bootstrap's do."""
    from partbench.metrics.statistics import pool_singletons

    assert pool_singletons(np.array([0, 1, 2, 2, 3])).tolist() == [4, 4, 2, 2, 4]
    assert pool_singletons(np.array([0, 0, 1, 1])).tolist() == [0, 0, 1, 1]
    assert pool_singletons(np.array([0, 1, 1])).tolist() == [0, 1, 1]  # one lone sample: nothing to pool with

    from partbench.metrics.partseg import ClassSpace, PartSegScorer

    space = ClassSpace(classes=tuple(f"o{k}'s p" for k in range(5)), unseen=(False,) * 5, ignore_label=255)
    scorer = PartSegScorer(space)
    rng = np.random.default_rng(3)
    for k in range(5):
        gt = np.full((4, 4), k)
        pred = np.where(rng.random((4, 4)) < 0.3 + 0.1 * k, k, 255)
        scorer.update(k, f"s{k}", pred, gt, where="test", object_class=f"o{k}")
    lo, hi = scorer.compute("ovparts", n_replicates=500)["ci95"]["miou"]
    assert hi - lo > 1.0


def test_dense_and_sparse_per_sample_matrices_give_the_same_intervals(monkeypatch):
    """Small per-sample matrices stay dense ndarrays (no scipy.sparse import), large ones become CSR: integer counts
    sum exactly either way, so every interval, BCa's jackknife and the paired differences are equal to the bit."""
    from partbench.metrics import partseg, statistics

    counts = np.random.default_rng(5).integers(0, 50, size=(40, 6)).astype(np.float64)
    counts[counts < 20] = 0  # mostly zero, as per-sample part counts are
    counts[:, 1] += 1

    def ratio(s):
        return {"r": s[..., 0] / s[..., 1], "q": s[..., 2] / (s[..., 1] + s[..., 3])}

    strata = np.arange(40) % 3
    for method in ("percentile", "bca"):
        dense = bootstrap_intervals(counts, ratio, n_replicates=300, seed=1, strata=strata, method=method)
        sparse = bootstrap_intervals(sp.csr_matrix(counts), ratio, n_replicates=300, seed=1, strata=strata,
                                     method=method)
        assert dense == sparse and dense["r"] is not None
    paired = statistics.paired_bootstrap_differences(counts, counts[::-1].copy(), ratio, 300, strata=strata)
    assert paired == statistics.paired_bootstrap_differences(sp.csr_matrix(counts), sp.csr_matrix(counts[::-1]),
                                                             ratio, 300, strata=strata)

    scorer = rare_class_fixture()
    assert isinstance(scorer._per_sample_matrix(), np.ndarray)
    dense_result = scorer.compute("ovparts", n_replicates=300)
    monkeypatch.setattr(partseg, "DENSE_CELLS", 0)
    assert sp.issparse(scorer._per_sample_matrix())
    assert scorer.compute("ovparts", n_replicates=300) == dense_result


def test_per_sample_rows_are_each_samples_own_counts():
    """Row k of the bootstrap's per-sample matrix: sample k's true-positive, ground-truth and predicted pixel counts
    per class, re-derived here from its confusion entries one by one."""
    scorer = rare_class_fixture()
    c = scorer.space.num_classes
    matrix = scorer._per_sample_matrix()
    for k, sample in enumerate(sorted(scorer.samples, key=lambda s: s.index)):
        tp, gt, pred = np.zeros(c), np.zeros(c), np.zeros(c)
        for p, g, n in sample.entries.tolist():
            gt[g] += n
            if p < c:
                pred[p] += n
                tp[p] += n if p == g else 0
        assert matrix[k].tolist() == [*tp, *gt, *pred], k


def test_resampling_draws_stratum_by_stratum_in_code_order():
    """The draws `resample_counts` makes, restated: one multinomial per stratum, strata in ascending code order,
    members in ascending index order (so that intervals do not change with how the strata are found)."""
    strata = np.random.default_rng(7).integers(0, 6, size=90)
    strata[strata == 4] = 9  # codes with gaps
    expected = np.zeros((25, strata.size))
    rng = np.random.default_rng(11)
    for code in sorted(set(strata.tolist())):
        members = [i for i, s in enumerate(strata.tolist()) if s == code]
        expected[:, members] = rng.multinomial(len(members), [1 / len(members)] * len(members), size=25)
    assert np.array_equal(resample_counts(np.random.default_rng(11), strata, 25), expected)


def test_per_sample_vectors_from_entries_equal_those_of_each_confusion():
    """The bootstrap's per-sample rows come from the sparse entries; `_vectors` of each sample's dense confusion
    (`per_class_counts`, `pair_counts`) is the definition, including left/right pairs and the no-prediction row."""
    from partbench.metrics.partseg import _entry_vectors

    classes = tuple(f"o's {name}" for name in ("left arm", "right arm", "head", "left leg", "right leg", "body"))
    space = ClassSpace(classes, (False,) * 6, ignore_label=255, pairs=((0, 1), (3, 4)))  # the mirrored arms, legs
    scorer = PartSegScorer(space)
    rng = np.random.default_rng(4)
    entries = []
    for _ in range(40):
        conf = rng.integers(0, 5, size=(7, 6)) * (rng.random((7, 6)) < 0.3)
        p, g = np.nonzero(conf)
        entries.append(np.stack([p, g, conf[p, g]], axis=1).astype(np.int32))
        dense = np.zeros((7, 6), dtype=np.int64)
        dense[p, g] = conf[p, g]
        assert _entry_vectors([entries[-1]], 6, space.pairs)[0].tolist() == scorer._vectors(dense).tolist()
    entries.append(np.zeros((0, 3), np.int32))  # a sample whose every pixel was ignored
    together = _entry_vectors(entries, 6, space.pairs)
    assert together.shape == (41, 3 * 6 + 2 * len(space.pairs)) and not together[-1].any()
    assert together[:40].tolist() == [_entry_vectors([e], 6, space.pairs)[0].tolist() for e in entries[:40]]
