"""Metric conventions against hand-worked examples and an independent implementation (scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, jaccard_score

from partbench.errors import PartbenchError
from partbench.metrics import conventions as cv
from partbench.metrics.confusion import confusion_counts, per_class_counts
from partbench.metrics.partseg import ClassSpace, PartSegScorer

IGNORE = 255


def toy_conf() -> np.ndarray:
    """A hand-worked toy example: 4 classes, base {0, 1}, novel {2, 3}.

    conf[pred, gt]. Class 0: 10 GT pixels, 8 right, 2 predicted as 1; one GT pixel of class 1 predicted as 0
    -> IoU0 = 8 / (10 + 9 - 8) = 8/11 = 0.727. Class 1: its only GT pixel is missed -> IoU 0 with GT.
    Class 2: 4 GT pixels, 2 right, 2 predicted as 3 -> IoU 2/4 = 0.5. Class 3: no GT, 2 false positives.
    """
    conf = np.zeros((4, 4), dtype=np.int64)
    conf[0, 0] = 8
    conf[1, 0] = 2
    conf[0, 1] = 1
    conf[2, 2] = 2
    conf[3, 2] = 2
    return conf


@pytest.mark.parametrize("convention, seen, unseen", [
    ("ovparts", (8 / 11 + 0) / 2, 0.5 / 2),      # 0.364 / 0.25
    ("nanmean", (8 / 11 + 0) / 2, 0.5),          # 0.364 / 0.5
    ("partcatseg", 8 / 11, 0.5),                 # 0.727 / 0.5
])
def test_toy_matrix_matches_protocol_note(convention, seen, unseen):
    tp, gt, pred = per_class_counts(toy_conf())
    s = cv.subset_miou(convention, tp, gt, pred, np.array([0, 1]))
    u = cv.subset_miou(convention, tp, gt, pred, np.array([2, 3]))
    assert s == pytest.approx(seen)
    assert u == pytest.approx(unseen)
    # The note's rounded figures, as printed there.
    assert round(float(s), 3) in (0.364, 0.727) and round(float(u), 3) in (0.25, 0.5)
    assert cv.harmonic_mean(s, u) == pytest.approx(2 * seen * unseen / (seen + unseen))


def test_hand_built_maps_per_convention():
    """A 2x4 image scored by hand. GT: [0 0 1 1 / 2 2 255 255], prediction: [0 1 1 1 / 3 3 0 255]."""
    gt = np.array([[0, 0, 1, 1], [2, 2, IGNORE, IGNORE]])
    pred = np.array([[0, 1, 1, 1], [3, 3, 0, IGNORE]])
    conf = confusion_counts(pred, gt, 4, IGNORE)
    # Pixels with ignored GT are not counted at all, so the 0 predicted at (1, 2) is not a false positive.
    tp, pos_gt, pos_pred = per_class_counts(conf)
    assert tp.tolist() == [1, 2, 0, 0]
    assert pos_gt.tolist() == [2, 2, 2, 0]
    assert pos_pred.tolist() == [1, 3, 0, 2]
    # IoU: class 0 = 1/2, class 1 = 2/3, class 2 = 0 (GT, missed), class 3 = 0 (prediction only).
    all_ids = np.arange(4)
    assert cv.subset_miou("ovparts", tp, pos_gt, pos_pred, all_ids) == pytest.approx((1 / 2 + 2 / 3 + 0) / 4)
    assert cv.subset_miou("nanmean", tp, pos_gt, pos_pred, all_ids) == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    assert cv.subset_miou("partcatseg", tp, pos_gt, pos_pred, all_ids) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert cv.subset_pixel_accuracy(tp, pos_gt, all_ids) == pytest.approx(3 / 6)


def test_undefined_subsets_are_nan_and_h_iou_guards():
    tp = pos_gt = pos_pred = np.zeros(3)
    assert np.isnan(cv.subset_miou("ovparts", tp, pos_gt, pos_pred, np.array([0, 1])))
    assert np.isnan(cv.harmonic_mean(np.float64(np.nan), np.float64(0.4)))
    # Both 0: OV-PARTS computes 0/0 and PartCATSeg returns np.nan (partcatseg_evaluation.py L311): undefined.
    assert np.isnan(cv.harmonic_mean(np.float64(0.0), np.float64(0.0)))
    assert cv.harmonic_mean(np.float64(0.0), np.float64(0.5)) == 0.0


def test_partcatseg_all_class_miou_is_the_plain_nanmean():
    """part-catseg partcatseg_evaluation.py: mIoU = np.nanmean(iou) over classes with ground truth or prediction
    (zeros kept, L209-216); only the base/unbase subsets drop IoU = 0 classes (L263-285). Counts worked by hand:
    classes 0, 1 hit (IoU 1/3, 1/2), class 2 missed (IoU 0), class 3 absent."""
    from partbench.metrics.partseg import ClassSpace, PartSegScorer

    space = ClassSpace(classes=("a's x", "a's y", "b's x", "b's y"), unseen=(False, False, True, True),
                       ignore_label=255)
    scorer = PartSegScorer(space)
    gt = np.array([[0, 0, 1, 1, 1, 2]])
    pred = np.array([[0, 1, 1, 1, 255, 0]])
    scorer.update(0, "s", pred, gt, where="test", object_class="a")
    out = scorer.compute("partcatseg", n_replicates=0)["metrics"]
    iou = [1 / 3, 1 / 2, 0.0]  # class 0: tp 1 / (gt 2 + pred 2 - 1); class 1: 2 / (3 + 3 - 2); class 2: 0 / 1
    assert out["miou"] == pytest.approx(100 * sum(iou) / 3)
    assert out["seen_miou"] == pytest.approx(100 * (iou[0] + iou[1]) / 2)
    assert out["unseen_miou"] is None and out["h_iou"] is None  # the unseen class has IoU 0: filtered away


def test_unknown_convention_suggests():
    with pytest.raises(PartbenchError, match="Did you mean 'nanmean'"):
        cv.check_convention("nanmeen")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_and_iou_agree_with_sklearn(seed):
    rng = np.random.default_rng(seed)
    c = 7
    gts, preds = [], []
    for _ in range(5):
        h, w = rng.integers(5, 30, size=2)
        gt = rng.integers(0, c, size=(h, w))
        gt[rng.random((h, w)) < 0.3] = IGNORE
        gt[gt == 6] = IGNORE  # class 6 never in GT: it can only be a false positive
        pred = rng.integers(0, c, size=(h, w))
        pred[rng.random((h, w)) < 0.1] = IGNORE  # some "no prediction" pixels
        gts.append(gt)
        preds.append(pred)

    ours = sum(confusion_counts(p, g, c, IGNORE) for p, g in zip(preds, gts))
    g_all = np.concatenate([g.ravel() for g in gts])
    p_all = np.concatenate([p.ravel() for p in preds])
    valid = g_all != IGNORE
    p_valid = np.where(p_all[valid] == IGNORE, c, p_all[valid])
    reference = confusion_matrix(g_all[valid], p_valid, labels=list(range(c + 1)))  # rows = GT, cols = pred
    np.testing.assert_array_equal(ours, reference[:c, :].T)  # our extra row: no prediction

    tp, pos_gt, pos_pred = per_class_counts(ours)
    ref_iou = jaccard_score(g_all[valid], p_valid, labels=list(range(c)), average=None, zero_division=0)
    ours_iou = cv.class_iou(tp, pos_gt, pos_pred)
    has_gt = pos_gt > 0
    np.testing.assert_allclose(ours_iou[has_gt], ref_iou[has_gt])
    assert cv.subset_miou("nanmean", tp, pos_gt, pos_pred, np.arange(c)) == pytest.approx(np.mean(ref_iou[has_gt]))
    # ovparts: same numerator, but class 6 (predicted, never in GT) joins the denominator with IoU 0.
    assert cv.subset_miou("ovparts", tp, pos_gt, pos_pred, np.arange(c)) == pytest.approx(
        np.sum(ref_iou[has_gt]) / (has_gt.sum() + 1))


def test_bad_predictions_are_named():
    gt = np.zeros((4, 4), dtype=np.int64)
    with pytest.raises(PartbenchError, match=r"pred\.png: prediction is 3x4"):
        confusion_counts(np.zeros((4, 3), dtype=np.int64), gt, 3, IGNORE, where="pred.png")
    with pytest.raises(PartbenchError, match="pred.png: predicted label 9 is out of range"):
        confusion_counts(np.full((4, 4), 9), gt, 3, IGNORE, where="pred.png")


def _space(pairs=()):
    classes = ("a's left arm", "a's right arm", "a's head", "b's head")
    return ClassSpace(classes=classes, unseen=(False, False, False, True), ignore_label=IGNORE, pairs=pairs)


def test_left_right_confusion_by_hand():
    """GT: 4 left-arm pixels, 2 right-arm pixels. 1 left pixel predicted right, both right pixels predicted left,
    one left pixel predicted head (not a mirror confusion). Rate = (1 + 2) / (4 + 2) = 50 %."""
    scorer = PartSegScorer(_space(pairs=((0, 1),)))
    gt = np.array([[0, 0, 0, 0, 1, 1]])
    pred = np.array([[0, 0, 1, 2, 0, 0]])
    scorer.update(0, "s0", pred, gt)
    out = scorer.compute(n_replicates=0)
    assert out["metrics"]["lr_confusion"] == pytest.approx(50.0)
    assert out["lr_pairs"] == [{"left": "a's left arm", "right": "a's right arm", "gt_pixels": 6,
                                "confused_pixels": 3, "rate": pytest.approx(50.0)}]
    assert out["higher_is_better"]["lr_confusion"] is False


def test_perfect_prediction_scores_100_and_merge_equals_single():
    rng = np.random.default_rng(0)
    maps = []
    for _ in range(6):
        gt = rng.integers(0, 4, size=(8, 8))
        pred = np.where(rng.random((8, 8)) < 0.7, gt, rng.integers(0, 4, size=(8, 8)))
        maps.append((pred, gt))
    perfect = PartSegScorer(_space())
    for i, (_, gt) in enumerate(maps):
        perfect.update(i, f"s{i}", gt, gt)
    assert perfect.compute(n_replicates=0)["metrics"]["h_iou"] == pytest.approx(100.0)

    single, first, second = PartSegScorer(_space()), PartSegScorer(_space()), PartSegScorer(_space())
    for i, (pred, gt) in enumerate(maps):
        single.update(i, f"s{i}", pred, gt)
        (first if i % 2 == 0 else second).update(i, f"s{i}", pred, gt)
    second.merge(first)  # merged in the "wrong" order: records are put back in suite order
    a, b = single.compute(n_replicates=200, seed=3), second.compute(n_replicates=200, seed=3)
    assert a["metrics"] == b["metrics"] and a["ci95"] == b["ci95"]


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    scorer = PartSegScorer(_space())
    for i in range(40):
        gt = rng.integers(0, 4, size=(6, 6))
        pred = np.where(rng.random((6, 6)) < 0.6, gt, rng.integers(0, 4, size=(6, 6)))
        scorer.update(i, f"s{i}", pred, gt)
    out = scorer.compute(n_replicates=300, seed=0)
    lo, hi = out["ci95"]["miou"]
    assert lo < out["metrics"]["miou"] < hi
    assert scorer.compute(n_replicates=300, seed=0)["ci95"] == out["ci95"]
    assert scorer.compute(n_replicates=300, seed=1)["ci95"] != out["ci95"]


def test_paired_comparison_agrees_with_a_naive_paired_bootstrap():
    """Two methods on 60 samples of arms: B mirrors arms less often than A. The reference resamples sample indices
    directly (its own RNG and loop) and pools confused / ground-truth pixels per replicate; the intervals of B - A
    must agree within Monte-Carlo error, and a run compared with itself differs by exactly 0 with p = 1."""
    rng = np.random.default_rng(4)
    space = _space(pairs=((0, 1),))
    a, b = PartSegScorer(space), PartSegScorer(space)
    confused = {"a": [], "b": []}
    gt_pixels = []
    for i in range(60):
        gt = rng.integers(0, 2, size=(5, 5))  # left/right arm pixels
        gt_pixels.append(gt.size)
        for name, scorer, flip in (("a", a, 0.30), ("b", b, 0.22)):
            mirrored = rng.random(gt.shape) < flip
            pred = np.where(mirrored, 1 - gt, gt)
            scorer.update(i, f"s{i}", pred, gt)
            confused[name].append(int(mirrored.sum()))
    ca, cb, g = (np.asarray(x, dtype=float) for x in (confused["a"], confused["b"], gt_pixels))
    result = a.compare(b, n_replicates=4000, seed=0)["lr_confusion"]
    assert result["difference"] == pytest.approx(100 * (cb.sum() - ca.sum()) / g.sum())

    ref_rng = np.random.default_rng(123)
    diffs = []
    for _ in range(4000):
        idx = ref_rng.integers(0, 60, size=60)
        diffs.append(100 * (cb[idx].sum() - ca[idx].sum()) / g[idx].sum())
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    assert result["ci95"][0] == pytest.approx(lo, abs=0.6) and result["ci95"][1] == pytest.approx(hi, abs=0.6)
    share_above = np.mean(np.asarray(diffs) >= 0)
    assert result["p_value"] == pytest.approx(min(1.0, 2 * min(share_above, 1 - share_above)), abs=0.02)

    same = a.compare(a, n_replicates=200)["lr_confusion"]
    assert same["difference"] == 0 and same["ci95"] == [0, 0] and same["p_value"] == 1.0
    other_samples = PartSegScorer(space)
    other_samples.update(0, "elsewhere", np.zeros((2, 2), int), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="same samples"):
        a.compare(other_samples)


def test_no_prediction_on_labelled_pixels_is_a_miss():
    """Abstaining (ignore value in the prediction) on labelled pixels must not raise IoU: 2 of 4 class-0 pixels
    predicted, 2 abstained -> IoU 2/4, not 2/2."""
    gt = np.array([[0, 0, 0, 0]])
    pred = np.array([[0, 0, IGNORE, IGNORE]])
    tp, pos_gt, pos_pred = per_class_counts(confusion_counts(pred, gt, 2, IGNORE))
    assert cv.class_iou(tp, pos_gt, pos_pred)[0] == pytest.approx(0.5)
