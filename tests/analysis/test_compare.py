"""`partbench compare`: the paired bootstrap agrees with an independent one written here (own resampling loop, own
mIoU and left/right formulas, own RNG) on a small seeded fixture; Holm's adjustment matches a hand-worked example;
runs over other samples or other data are refused, naming the files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import invoke

from partbench.analysis.paired import compare_runs, holm
from partbench.analysis.runs import load_run
from partbench.errors import PartbenchError
from partbench.suites import load_suite

SUITE = load_suite("demo")
C = SUITE.num_classes
N_PER_OBJECT = 24
OBJECTS = ("figure", "robot")  # seen, unseen; 12 parts each, 5 mirrored pairs each


def _mirror(k: int) -> int | None:
    for a, b in SUITE.mirrored_pairs:
        if k in (a, b):
            return b if k == a else a
    return None


def _entries(sample: int, run: np.random.Generator, obj: str, skill: float) -> list[list[int]]:
    """One sample's confusion entries [pred, gt, count]. The ground truth and the sample's difficulty depend on the
    sample only (as for real runs over the same data), the errors on the run. Every part of the object has ground
    truth, so every resample keeps the full set's classes; misses go to the mirror part, the torso, or no
    prediction (id C)."""
    data = np.random.default_rng([7, sample])
    parts = SUITE.part_ids_of(obj)
    torso = SUITE.classes.index(f"{obj}'s torso")
    difficulty = data.normal(0, 0.2)
    out = []
    for k in parts:
        g = int(data.integers(30, 200))
        correct = int(run.binomial(g, np.clip(skill + difficulty + run.normal(0, 0.05), 0.05, 0.95)))
        rest = g - correct
        mirror = int(run.binomial(rest, 0.5)) if _mirror(k) is not None else 0
        none = int(run.binomial(rest - mirror, 0.3))
        other = rest - mirror - none
        for pred, n in ((k, correct), (_mirror(k), mirror), (C, none), (torso if k != torso else parts[0], other)):
            if pred is not None and n:
                out.append([pred, k, n])
    return out


def _write_run(root: Path, name: str, skills: dict[str, float], seed: int, fingerprint: str = "f" * 64,
               drop: int | None = None) -> Path:
    rng = np.random.default_rng(seed)
    rows, i = [], 0
    for obj in OBJECTS:
        for n in range(N_PER_OBJECT):
            if i != drop:
                rows.append({"index": i, "id": f"img{n:03d}__{obj}", "conf": _entries(i, rng, obj, skills[obj]),
                             "object": obj})
            i += 1
    run = root / "demo" / name
    run.mkdir(parents=True)
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "results.json").write_text(json.dumps({
        "suite": "demo", "suite_version": SUITE.version, "split": "val", "task": "part-semantic", "method": name,
        "run_name": name, "convention": "ovparts", "metrics": {}, "data": {"fingerprint": fingerprint}}))
    return run


@pytest.fixture
def three_runs(tmp_path) -> list[Path]:
    return [_write_run(tmp_path, "a", {"figure": 0.55, "robot": 0.40}, seed=1),
            _write_run(tmp_path, "b", {"figure": 0.555, "robot": 0.46}, seed=2),
            _write_run(tmp_path, "c", {"figure": 0.54, "robot": 0.41}, seed=3)]


# -- the independent computation --------------------------------------------------------------------------------------
def _dense(run: Path) -> tuple[np.ndarray, list[str]]:
    """(N, C+1, C) per-sample confusion counts conf[n, pred, gt], and each sample's object."""
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    conf = np.zeros((len(rows), C + 1, C))
    for n, r in enumerate(rows):
        for pred, gt, count in r["conf"]:
            conf[n, pred, gt] += count
    return conf, [r["object"] for r in rows]


def _metrics(conf: np.ndarray) -> dict[str, float]:
    """Points, from summed (C+1, C) counts: mIoU over each object's parts (all have ground truth here), h-IoU, and
    the share of the mirrored parts' ground truth predicted as the mirror part."""
    tp = np.diag(conf[:C])
    gt = conf.sum(axis=0)
    pred = conf[:C].sum(axis=1)
    with np.errstate(invalid="ignore"):  # classes of other objects: no pixels at all
        iou = tp / (gt + pred - tp)
    seen = np.mean([iou[k] for k in SUITE.part_ids_of("figure")])
    unseen = np.mean([iou[k] for k in SUITE.part_ids_of("robot")])
    pairs = [(a, b) for a, b in SUITE.mirrored_pairs if gt[a] > 0]
    confused = sum(conf[b, a] + conf[a, b] for a, b in pairs)
    return {"seen_miou": 100 * seen, "unseen_miou": 100 * unseen, "h_iou": 100 * 2 * seen * unseen / (seen + unseen),
            "lr_confusion": 100 * confused / sum(gt[a] + gt[b] for a, b in pairs)}


def _independent(run_a: Path, run_b: Path, replicates: int, seed: int) -> dict[str, dict]:
    """Resample the samples with replacement within each object class; both runs scored on the same draw."""
    a, objects = _dense(run_a)
    b, _ = _dense(run_b)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(np.asarray(objects) == o) for o in sorted(set(objects))]
    point_a, point_b = _metrics(a.sum(axis=0)), _metrics(b.sum(axis=0))
    diffs = {m: [] for m in point_a}
    for _ in range(replicates):
        idx = np.concatenate([rng.choice(g, size=g.size, replace=True) for g in groups])
        ra, rb = _metrics(a[idx].sum(axis=0)), _metrics(b[idx].sum(axis=0))
        for m in diffs:
            diffs[m].append(rb[m] - ra[m])
    out = {}
    for m, d in diffs.items():
        d = np.asarray(d)
        out[m] = {"difference": point_b[m] - point_a[m], "ci95": np.percentile(d, [2.5, 97.5]),
                  "p_value": min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))), "sd": d.std()}
    return out


def test_paired_bootstrap_agrees_with_an_independent_one(three_runs):
    a, b, _ = three_runs
    result = compare_runs([load_run(a), load_run(b)], n_replicates=4000, seed=5)
    mine = {d.metric: d for d in result.comparisons[0].diffs}
    theirs = _independent(a, b, replicates=4000, seed=123)
    assert set(mine) == {"h_iou", "seen_miou", "unseen_miou", "lr_confusion"}
    significant = 0
    for m, ref in theirs.items():
        got = mine[m]
        assert got.difference == pytest.approx(ref["difference"], abs=1e-9), m  # the same full-set numbers
        # Two Monte Carlo estimates of the same bootstrap distribution: bounds within a fifth of its spread, p-values
        # within 0.05 (with 4000 replicates each, the Monte Carlo error of p is below 0.011).
        assert got.ci95 == pytest.approx(ref["ci95"], abs=0.2 * ref["sd"]), m
        assert got.p_value == pytest.approx(ref["p_value"], abs=0.05), m
        significant += ref["p_value"] < 0.01
    assert 0 < significant < 4  # the fixture has both a clear difference and unclear ones


def test_holm_matches_a_hand_worked_example():
    # sorted: 0.01 x 4 = 0.04; 0.02 x 3 = 0.06; 0.03 x 2 = 0.06; 0.5 x 1 = 0.5 (None is not a test)
    assert holm([0.03, 0.01, None, 0.5, 0.02]) == pytest.approx([0.06, 0.04, None, 0.5, 0.06])
    assert holm([0.4, 0.3]) == [0.6, 0.6]  # monotone: never below an earlier step


def test_cli_json_and_holm_over_runs_and_metrics(three_runs):
    two = invoke("compare", three_runs[0], three_runs[1], "--metric", "h_iou,lr_confusion", "--json",
                 "--replicates", "500")
    assert two.exit_code == 0, two.output
    doc = json.loads(two.output)
    assert (doc["a"], doc["a_path"], doc["replicates"]) == ("a", str(three_runs[0]), 500)
    (only,) = doc["comparisons"]
    assert only["b"] == "b" and only["b_path"] == str(three_runs[1]) and set(only["metrics"]) == {"h_iou",
                                                                                                   "lr_confusion"}
    assert set(only["metrics"]["h_iou"]) >= {"difference", "ci95", "p_value", "p", "p_value_holm", "p_holm"}
    three = invoke("compare", *three_runs, "--json", "--replicates", "500")
    assert three.exit_code == 0, three.output
    doc = json.loads(three.output)
    by_run = {c["b"]: c["metrics"] for c in doc["comparisons"]}
    assert set(by_run) == {"b", "c"} and set(by_run["b"]) == {"h_iou", "seen_miou", "unseen_miou", "lr_confusion"}
    raw = [by_run[r][m]["p_value"] for r in ("b", "c") for m in by_run[r]]
    assert [by_run[r][m]["p_value_holm"] for r in ("b", "c") for m in by_run[r]] == pytest.approx(holm(raw))
    text = invoke("compare", *three_runs, "--replicates", "500")
    assert text.exit_code == 0 and "B = b" in text.output and "p (Holm)" in text.output


def test_a_p_value_beyond_the_bootstrap_resolution_is_a_bound_in_json_and_text(three_runs, tmp_path):
    far = _write_run(tmp_path / "far", "far", {"figure": 0.95, "robot": 0.95}, seed=5)  # better on every sample
    args = ("compare", three_runs[0], far, "--metric", "h_iou", "--replicates", "200")
    doc = json.loads(invoke(*args, "--json").output)
    h = doc["comparisons"][0]["metrics"]["h_iou"]
    assert doc["a"] == "a" and doc["comparisons"][0]["b"] == "far"
    assert h["difference"] > 20 and h["p_value"] == 1 / 200 and h["p_value_bound"] is True and h["p"] == "< 0.005"
    text = invoke(*args)
    assert text.exit_code == 0 and "< 0.005" in text.output, text.output
    # Holm over several tests: a bound adjusted stays a bound, never 0.
    many = json.loads(invoke("compare", three_runs[0], far, "--replicates", "200", "--json").output)
    adjusted = many["comparisons"][0]["metrics"]["h_iou"]
    assert adjusted["p_value_holm"] > 0 and adjusted["p_value_holm_bound"] is True
    assert adjusted["p_holm"] == f"< {adjusted['p_value_holm']:.2g}"


def test_runs_over_other_samples_or_data_are_refused(three_runs, tmp_path):
    fewer = _write_run(tmp_path / "x", "short", {"figure": 0.5, "robot": 0.5}, seed=4, drop=3)
    refused = invoke("compare", three_runs[0], fewer)
    assert refused.exit_code == 2 and "other samples" in refused.output and "img003__figure" in refused.output
    assert "samples.jsonl" in refused.output and "Traceback" not in refused.output
    other = _write_run(tmp_path / "y", "elsewhere", {"figure": 0.5, "robot": 0.5}, seed=4, fingerprint="0" * 64)
    refused = invoke("compare", three_runs[0], other)
    assert refused.exit_code == 2 and "other data" in refused.output and "--allow-other-data" in refused.output
    allowed = invoke("compare", three_runs[0], other, "--allow-other-data", "--replicates", "200")
    assert allowed.exit_code == 0 and "warning: other data" in allowed.output
    with pytest.raises(PartbenchError, match="at least two runs"):
        compare_runs([load_run(three_runs[0])])
    broken = three_runs[2] / "samples.jsonl"
    broken.write_text("{not json\n")
    bad = invoke("compare", three_runs[0], three_runs[2])
    assert bad.exit_code == 2 and f"{broken}, line 1: not valid JSON" in " ".join(bad.output.split())


def _write_edit_run(root: Path, name: str) -> Path:
    run = root / "demo-edit" / name
    run.mkdir(parents=True)
    (run / "samples.jsonl").write_text(json.dumps({"index": 0, "id": "s0", "clip": 0.3}) + "\n")
    (run / "results.json").write_text(json.dumps({
        "suite": "demo-edit", "split": "val", "task": "part-editing", "method": name, "run_name": name,
        "convention": "region", "metrics": {}, "data": {"fingerprint": "f" * 64}}))
    return run


def test_runs_of_other_tasks_are_refused_clearly(three_runs, tmp_path):
    """Part-editing runs (convention "region", no confusion entries) are refused by task, not by their convention."""
    edit_a, edit_b = _write_edit_run(tmp_path / "e", "edit-a"), _write_edit_run(tmp_path / "e", "edit-b")
    for args in ((edit_a, edit_b), (edit_a, three_runs[0]), (three_runs[0], edit_a)):
        refused = invoke("compare", *args)
        assert refused.exit_code == 2, refused.output
        out = " ".join(refused.output.split())
        assert "compare supports segmentation runs" in out and "edit-a" in out and "is a part-editing run" in out
        assert "Unknown metric convention" not in out and "Traceback" not in out
