"""User-study packs: deterministic export, private key, answer import (three formats), filters and statistics
checked against hand computations (binomial pmf sums written out here, not scipy's test)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from helpers.generation import study_runs
from typer.testing import CliRunner

from partbench.errors import PartbenchError
from partbench.userstudy.analyze import Thresholds, analyze, load_key, read_answers
from partbench.userstudy.export import ExportOptions, export_pack


@pytest.fixture
def runs(tmp_path, monkeypatch):
    return study_runs(tmp_path, monkeypatch)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_is_deterministic_and_keeps_the_key_private(tmp_path, runs):
    key = export_pack(ExportOptions(runs=runs, out=tmp_path / "a", items=3, gold=2, seed=7))
    export_pack(ExportOptions(runs=runs, out=tmp_path / "b", items=3, gold=2, seed=7))
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")  # same seed, identical pack (no timestamps)
    other = export_pack(ExportOptions(runs=runs, out=tmp_path / "c", items=3, gold=2, seed=8))
    assert other["pack_id"] != key["pack_id"]

    kinds = [i["kind"] for i in key["items"]]
    assert kinds.count("real") == 6 and kinds.count("gold") == 2 and kinds.count("repeat") == 1
    pack = tmp_path / "a" / "pack"
    assert not (pack / "key.json").exists() and (tmp_path / "a" / "key.json").is_file()
    public = "".join(p.read_text(errors="ignore") for p in pack.rglob("*") if p.suffix in (".html", ".json"))
    for label in key["runs"]:
        assert label not in public  # no method name reaches the raters' folder
    assert "gold" not in public.lower()
    sides = {(i["left"] == key["reference"]) for i in key["items"] if i["kind"] == "real"}
    assert sides == {True, False}  # the reference appears on both sides
    repeat = next(i for i in key["items"] if i["kind"] == "repeat")
    original = next(i for i in key["items"] if i["item_id"] == repeat["repeat_of"])
    assert (repeat["left"], repeat["right"]) == (original["right"], original["left"])
    gold = next(i for i in key["items"] if i["kind"] == "gold")
    assert gold[gold["gold_answer"]] == key["reference"]
    assert gold["left" if gold["gold_answer"] == "right" else "right"] == "blank"

    rows = list(csv.DictReader(open(tmp_path / "a" / "items.csv")))
    assert len(rows) == len(key["items"]) and {"Input.item_id", "Input.prompt", "Input.image_left_url"} <= set(rows[0])
    for r in rows:
        assert (pack / r["Input.image_left_url"]).is_file() and (pack / r["Input.image_right_url"]).is_file()


def test_page_escapes_prompts_and_makes_no_external_requests(tmp_path, runs):
    export_pack(ExportOptions(runs=runs, out=tmp_path / "p", items=6, gold=0))
    html = (tmp_path / "p" / "pack" / "index.html").read_text()
    assert "<b>head</b>" not in html and "onerror=\"window" not in html  # only escaped forms in the page
    assert "\\u003cb\\u003ehead\\u003c/b\\u003e" in html
    for needle in ("http://", "https://cdn", "//fonts.", "<link", "src=\"http"):
        assert needle not in html.replace("https://app.prolific.com/submissions/complete", "")


def _write_long_csv(path: Path, rows: list[tuple]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["worker_id", "item_id", "choice", "rt_ms"])
        w.writerows(rows)
    return path


def _answer(item: dict, reference: str, prefer_reference: bool) -> str:
    ref_side = "left" if item["left"] == reference else "right"
    return ref_side if prefer_reference else ("right" if ref_side == "left" else "left")


def _binom_two_sided(k: int, n: int) -> float:
    """Exact two-sided binomial p at 0.5, written out: the sum of outcomes no more likely than k."""
    pmf = [math.comb(n, i) / 2**n for i in range(n + 1)]
    return min(1.0, sum(p for p in pmf if p <= pmf[k] * (1 + 1e-7)))


def test_analysis_matches_hand_computation(tmp_path, runs):
    key = export_pack(ExportOptions(runs=runs, out=tmp_path / "s", items=5, gold=2, seed=1))
    ref, base1, _ = key["reference"], *key["baselines"]
    rows = []
    # Raters r1..r4 answer everything, passing gold; r1-r3 prefer the reference on baseline 1 except on one item
    # each; on baseline 2 they prefer the reference always. r5 fails a gold item; r6 answers in 100 ms.
    for rater in ("r1", "r2", "r3", "r4", "r5", "r6"):
        wrong_done = False
        for item in key["items"]:
            if item["kind"] == "gold":
                good = item["gold_answer"]
                choice = good if rater != "r5" else ("left" if good == "right" else "right")
            else:
                prefer = True
                first_real = item["baseline"] == base1 and item["kind"] == "real"
                if first_real and not wrong_done and rater in ("r1", "r2", "r3"):
                    prefer, wrong_done = False, True
                if rater == "r4" and item["baseline"] == base1:
                    prefer = False
                choice = _answer(item, ref, prefer)
            rows.append((rater, item["item_id"], choice, 100 if rater == "r6" else 2500))
    first_answer = next(r for r in rows if r[:2] == ("r1", key["items"][0]["item_id"]))
    rows.append(("r1", first_answer[1], first_answer[2], 900))  # an identical repeat: counted once, reported
    answers = _write_long_csv(tmp_path / "long.csv", rows)

    result = analyze(key, read_answers([answers], key), Thresholds(min_gold_accuracy=1.0, min_median_rt_ms=500),
                     n_bootstrap=500)
    assert result["n_raters_total"] == 6 and result["n_raters_kept"] == 4
    assert result["dropped"]["failed_gold"]["raters"] == ["r5"] and result["dropped"]["too_fast"]["raters"] == ["r6"]
    assert result["duplicate_answers"] == 1
    assert result["duplicates"]["identical"] == {"n_answers": 1, "raters": ["r1"]}
    assert result["duplicates"]["conflicting"]["raters"] == []
    b1, b2 = result["baselines"]
    # baseline 1: 5 items × 4 raters = 20 votes; r1-r3 each one against, r4 all five against -> k = 12
    assert (b1["k"], b1["n_votes"], b1["n_raters"], b1["n_items"]) == (12, 20, 4, 5)
    assert b1["preference"] == pytest.approx(0.6)
    assert b1["p_value"] == pytest.approx(_binom_two_sided(12, 20))
    assert (b2["k"], b2["n_votes"]) == (20, 20)
    assert b2["p_value"] == pytest.approx(2 / 2**20)
    from scipy.stats import beta

    assert b1["ci95_exact"] == pytest.approx([beta.ppf(0.025, 12, 9), beta.ppf(0.975, 13, 8)])
    assert b2["p_value_holm"] == pytest.approx(2 * b2["p_value"])  # smallest p times m = 2
    assert b1["p_value_holm"] == pytest.approx(max(b1["p_value"], b2["p_value_holm"]))
    lo, hi = b1["ci95_rater_bootstrap"]
    assert lo < 0.6 < hi and hi - lo > b1["ci95_exact"][1] - b1["ci95_exact"][0] - 0.3
    assert result["repeat_consistency"]["n_raters"] == 4
    votes = [r for r in rows[:-1] if r[0] in ("r1", "r2", "r3", "r4")]
    kinds = {i["item_id"]: i["kind"] for i in key["items"]}
    lr = [c for _, item, c, _ in votes if kinds[item] != "gold"]
    assert result["left_bias"]["p_left"] == pytest.approx(lr.count("left") / len(lr))


def test_page_json_and_batch_csv_read_like_the_long_form(tmp_path, runs):
    key = export_pack(ExportOptions(runs=runs, out=tmp_path / "s", items=2, gold=1))
    answers = [{"item_id": i["item_id"], "choice": "left", "rt_ms": 1200} for i in key["items"]]
    page = tmp_path / "answers.json"
    page.write_text(json.dumps({"pack_id": key["pack_id"], "participant_id": "p1", "answers": answers}))
    batch = tmp_path / "Batch_1_batch_results.csv"
    with open(batch, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["HITId", "AssignmentId", "WorkerId", "AssignmentStatus", "WorkTimeInSeconds", "Input.pack_id",
                    "Input.item_id", "Answer.choice"])
        for n, i in enumerate(key["items"]):
            w.writerow([f"H{n}", f"A{n}", "W2", "Submitted", "3", key["pack_id"], i["item_id"], "1"])
            w.writerow([f"H{n}", f"B{n}", "W3", "Rejected", "3", key["pack_id"], i["item_id"], "2"])
        w.writerow(["", "", "", "", "", "", "", ""])  # trailing summary row
    report = read_answers([page, batch], key)
    assert report.rejected_assignments == len(key["items"])
    assert {v.rater for v in report.votes} == {"p1", "W2"}
    assert all(v.choice == "left" for v in report.votes)
    assert {v.rt_ms for v in report.votes if v.rater == "W2"} == {3000.0}


def test_answers_from_another_pack_are_rejected(tmp_path, runs):
    key = export_pack(ExportOptions(runs=runs, out=tmp_path / "s", items=2, gold=1, seed=0))
    other = export_pack(ExportOptions(runs=runs, out=tmp_path / "t", items=2, gold=1, seed=5))
    page = tmp_path / "answers.json"
    page.write_text(json.dumps({"pack_id": other["pack_id"], "participant_id": "p1",
                                "answers": [{"item_id": "item001", "choice": "left"}]}))
    with pytest.raises(PartbenchError, match=r"answers\.json: answers belong to pack 'pb-.*another study"):
        read_answers([page], key)
    bad = _write_long_csv(tmp_path / "bad.csv", [("w", "item999", "left", 1000)])
    with pytest.raises(PartbenchError, match=r"bad\.csv: answers to items not in this pack \(item999\)"):
        read_answers([bad], key)
    bad = _write_long_csv(tmp_path / "bad2.csv", [("w", "item001", "maybe", 1000)])
    with pytest.raises(PartbenchError, match=r"bad2\.csv:2: choice 'maybe'"):
        read_answers([bad], key)


def test_cli_export_and_analyze(tmp_path, runs):
    from partbench.cli.main import app

    out = tmp_path / "study"
    result = CliRunner().invoke(app, ["userstudy", "export", *[a for r in runs for a in ("--run", str(r))],
                                      "--out", str(out), "--items", "3"])
    assert result.exit_code == 0, result.output
    key = load_key(out)
    rows = [(w, i["item_id"], "left" if n % 3 else "right", 1500) for n, w in enumerate(["a", "b", "c"])
            for i in key["items"]]
    answers = _write_long_csv(tmp_path / "answers.csv", rows)
    result = CliRunner().invoke(app, ["userstudy", "analyze", "--pack", str(out), "--responses", str(answers),
                                      "--min-gold-accuracy", "0", "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    assert "preferred over each baseline" in result.output
    assert (out / "analysis" / "analysis.json").is_file()
    assert (out / "analysis" / "preferences.png").stat().st_size > 1000
    # A folder of answer files, as the README writes the command, reads the same answers.
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "answers.csv").write_bytes(answers.read_bytes())
    first = json.loads((out / "analysis" / "analysis.json").read_text())
    again = CliRunner().invoke(app, ["userstudy", "analyze", "--pack", str(out), "--responses", str(folder),
                                     "--min-gold-accuracy", "0", "--bootstrap", "200"])
    assert again.exit_code == 0, again.output
    second = json.loads((out / "analysis" / "analysis.json").read_text())
    assert second.pop("files") == [str(folder / "answers.csv")] and first.pop("files") == [str(answers)]
    assert second == first
    missing = CliRunner().invoke(app, ["userstudy", "analyze", "--pack", str(tmp_path), "--responses", str(answers)])
    assert missing.exit_code == 2 and "no key.json" in missing.output
