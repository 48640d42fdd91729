"""Partonomy's grounded IoU (partbench.metrics.giou, giou_reduce): hand-worked cases, and agreement with an
independent re-statement of the upstream evaluator (tests/helpers/partonomy_reference.py) on random records."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import partonomy_reference as upstream

from partbench.metrics.giou import MODES, match_record
from partbench.metrics.giou_reduce import RecordScore, by_matching, summarize


def masks(width: int, *pixel_sets: set[int]) -> np.ndarray:
    """(K, 1, width) masks from sets of pixel columns."""
    out = np.zeros((len(pixel_sets), 1, width), dtype=bool)
    for k, pixels in enumerate(pixel_sets):
        out[k, 0, sorted(pixels)] = True
    return out


# R1: ground truth {0,1}, {2}, {3}; predictions {0}, {2,3}: two scored pairs of IoU 1/2 each; the third part has no
# prediction (partonomy: not scored; strict: IoU 0, union 1).
R1 = (masks(4, {0}, {2, 3}), masks(4, {0, 1}, {2}, {3}))
# R2 (pixels a, b, c = 0, 1, 2): ground truth {a,b}, {c}; predictions {a,b,c}, {a}. IoU matrix [[2/3, 1/3], [1/2, 0]]:
# paired and greedy take 2/3 and 0 (greedy grabs the largest first), Hungarian 1/3 + 1/2; union: {a,b,c} vs {a,b,c}.
R2 = (masks(3, {0, 1, 2}, {0}), masks(3, {0, 1}, {2}))
# R3: an empty part, predicted empty: the union is empty, IoU 1.
R3 = (masks(4, set()), masks(4, set()))
# R4: no predicted mask at all.
R4 = (np.zeros((0, 1, 2), dtype=bool), masks(2, {0}))


def test_pairs_hand_worked():
    m = match_record(*R1, "partonomy")
    assert [(p.intersection, p.union, p.iou) for p in m.pairs["paired"]] == [(1, 2, 0.5), (1, 2, 0.5)]
    m = match_record(*R1, "strict")
    assert [(p.intersection, p.union, p.iou) for p in m.pairs["paired"]] == [(1, 2, 0.5), (1, 2, 0.5), (0, 1, 0.0)]
    m = match_record(*R2, "partonomy")
    assert [p.iou for p in m.pairs["paired"]] == pytest.approx([2 / 3, 0.0])
    assert [p.iou for p in m.pairs["greedy"]] == pytest.approx([2 / 3, 0.0])
    assert sorted(p.iou for p in m.pairs["hungarian"]) == pytest.approx([1 / 3, 1 / 2])
    assert [p.iou for p in m.pairs["union"]] == [1.0]
    assert match_record(*R3).pairs["paired"][0].iou == 1.0  # empty union
    assert not match_record(*R4, "partonomy").scored
    assert [(p.intersection, p.union, p.iou) for p in match_record(*R4, "strict").pairs["paired"]] == [(0, 1, 0.0)]


def _rows(convention: str) -> list[RecordScore]:
    types = ["identification", "identification", "difference", "intersection"]
    return [RecordScore.from_match(i, f"r{i}", t, len(r[1]), len(r[0]), match_record(*r, convention))
            for i, (t, r) in enumerate(zip(types, (R1, R2, R3, R4)))]


def test_dataset_numbers_hand_worked():
    got = summarize(_rows("partonomy"), type_order=("identification", "intersection", "difference"))
    m, by = got["metrics"], got["by_question_type"]
    # macro = mean(1/2, 1/3, 1) over the three scored records; micro = mean(1/2, 1/2, 2/3, 0, 1); cIoU = (1+1+2+0+0) /
    # (2+2+3+2+0).
    assert m["giou_macro"] == pytest.approx(100 * 11 / 18)
    assert m["giou_micro"] == pytest.approx(100 * (8 / 3) / 5)
    assert m["ciou"] == pytest.approx(100 * 4 / 9)
    assert by["identification"]["giou_macro"] == pytest.approx(100 * 5 / 12)
    assert by["identification"]["giou_micro"] == pytest.approx(100 * (5 / 3) / 4)
    assert by["difference"] == {"giou_macro": 100.0, "giou_micro": 100.0, "ciou": None, "n_samples": 1,
                                "n_records": 1, "n_masks": 1}
    assert by["intersection"]["giou_macro"] is None and by["intersection"]["n_samples"] == 0
    assert list(by) == ["identification", "intersection", "difference"]
    assert m["giou_macro_identification"] == by["identification"]["giou_macro"]

    strict = summarize(_rows("strict"))["metrics"]
    # R1 scores 1/3 (the missing part 0, union 1), R4 scores 0 (union 1).
    assert strict["giou_macro"] == pytest.approx(100 * (1 / 3 + 1 / 3 + 1 + 0) / 4)
    assert strict["giou_micro"] == pytest.approx(100 * (8 / 3) / 7)
    assert strict["ciou"] == pytest.approx(100 * 4 / 11)

    modes = by_matching(_rows("partonomy"))
    assert modes["hungarian"]["giou_macro"] == pytest.approx(100 * (1 / 2 + 5 / 12 + 1) / 3)
    assert modes["greedy"]["giou_macro"] == pytest.approx(100 * 11 / 18)
    assert modes["union"]["giou_macro"] == pytest.approx(100 * (3 / 4 + 1 + 1) / 3)  # R1 union: {0,2,3} vs all four


def test_agrees_with_upstream_restatement_on_random_records():
    rng = np.random.default_rng(7)
    records = []
    for _ in range(60):
        k = int(rng.integers(1, 5))
        gts = rng.random((k, 6, 7)) < rng.uniform(0, 0.5)
        n_pred = int(rng.integers(0, 6))  # fewer, as many or more masks than parts; sometimes none
        preds = rng.random((n_pred, 6, 7)) < rng.uniform(0, 0.5)
        if rng.random() < 0.2 and n_pred:
            preds[0] = gts[0]  # exact hits, and empty masks on both sides, occur
        records.append((preds, gts))
    rows = [RecordScore.from_match(i, f"r{i}", "identification", len(g), len(p), match_record(p, g))
            for i, (p, g) in enumerate(records)]
    ours = by_matching(rows)
    for mode in MODES:
        theirs = upstream.evaluate(records, mode)
        assert ours[mode]["giou_macro"] == pytest.approx(theirs["giou_macro"], abs=0.01), mode
        assert ours[mode]["giou_micro"] == pytest.approx(theirs["giou_micro"], abs=0.01), mode


def test_bootstrap_intervals_contain_the_estimate():
    rows = _rows("strict")
    got = summarize(rows * 5, n_replicates=200)
    for key in ("giou_macro", "giou_micro", "ciou", "giou_macro_identification"):
        lo, hi = got["ci95"][key]
        assert lo <= got["metrics"][key] <= hi
    assert got["by_question_type"]["identification"]["ci95"]["ciou"] is not None


def test_mc_accuracy_only_when_a_choice_is_given():
    rows = _rows("partonomy")
    assert "mc_accuracy" not in summarize(rows)["metrics"]
    rows[0].mc_correct, rows[1].mc_correct = True, False
    got = summarize(rows)
    assert got["metrics"]["mc_accuracy"] == 50.0 and got["metrics"]["mc_accuracy_identification"] == 50.0
    assert got["by_question_type"]["difference"]["mc_accuracy"] is None
