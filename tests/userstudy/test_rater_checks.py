"""Which raters `userstudy analyze` keeps: conflicting resubmissions (policy explicit, never the order of the files),
raters who saw no gold item, completion codes that do not match the answers. Answers are written here by hand into
temporary folders; codes are computed with `completion_code` (the browser test checks the page agrees with it)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers.generation import study_runs
from typer.testing import CliRunner

from partbench.errors import PartbenchError
from partbench.userstudy.analyze import Thresholds, analyze, read_answers
from partbench.userstudy.completion import completion_code
from partbench.userstudy.export import ExportOptions, export_pack

LOOSE = Thresholds(min_gold_accuracy=1.0, min_median_rt_ms=0)


@pytest.fixture
def study(tmp_path, monkeypatch):
    runs = study_runs(tmp_path, monkeypatch)
    return export_pack(ExportOptions(runs=runs, out=tmp_path / "study", items=3, gold=2, seed=4))


def _choices(key: dict, prefer_reference: bool = True) -> dict[str, str]:
    """Gold items right; every other item for (or against) the reference."""
    out = {}
    for item in key["items"]:
        if item["kind"] == "gold":
            out[item["item_id"]] = item["gold_answer"]
        else:
            ref_left = item["left"] == key["reference"]
            out[item["item_id"]] = "left" if ref_left == prefer_reference else "right"
    return out


def _page_file(path: Path, key: dict, participant: str, choices: dict[str, str], finished: str | None = None,
               code: str | None = "derive") -> Path:
    """An answers file as the study page writes it (code "derive": the code the page would show)."""
    answers = [{"item_id": i, "choice": c, "rt_ms": 1500} for i, c in choices.items()]
    doc = {"pack_id": key["pack_id"], "participant_id": participant, "finished": finished, "answers": answers}
    if code == "derive":  # (a key without a salt, from before codes were derived: no code, nothing checked)
        code = key.get("completion_salt") and completion_code(key["completion_salt"], key["pack_id"], participant,
                                                              choices.items())
    if code is not None:
        doc["completion_code"] = code
    path.write_text(json.dumps(doc))
    return path


def _flip(choices: dict[str, str], item_id: str) -> dict[str, str]:
    return {**choices, item_id: "right" if choices[item_id] == "left" else "left"}


def _first_real(key: dict) -> str:
    return next(i["item_id"] for i in key["items"] if i["kind"] == "real")


def test_conflicting_resubmission_excludes_the_rater_whatever_the_file_order(tmp_path, study):
    key, real = study, _first_real(study)
    first = _page_file(tmp_path / "p1-a.json", key, "p1", _choices(key))
    second = _page_file(tmp_path / "p1-b.json", key, "p1", _flip(_choices(key), real))
    other = _page_file(tmp_path / "p2.json", key, "p2", _choices(key, prefer_reference=False))
    results = [analyze(key, read_answers(files, key), LOOSE, n_bootstrap=0)
               for files in ([first, second, other], [second, first, other])]
    for result in results:
        assert (result["n_raters_total"], result["n_raters_kept"]) == (2, 1)
        assert all(row["preference"] == 0.0 for row in result["baselines"])  # p2's votes only
        assert result["dropped"]["conflicting_duplicates"] == {"n": 1, "raters": ["p1"]}
        assert result["duplicates"]["policy"] == "exclude"
        assert result["duplicates"]["conflicting"]["raters"] == ["p1"]
        assert result["duplicates"]["conflicting"]["items"] == {"p1": [real]}
    assert results[0]["baselines"] == results[1]["baselines"]


def test_duplicates_policy_first_or_last_follows_submission_time_not_file_order(tmp_path, study):
    key, real = study, _first_real(study)
    base = _choices(key)
    early = _page_file(tmp_path / "z-early.json", key, "p1", base, finished="2025-03-01T10:00:00.000Z")
    late = _page_file(tmp_path / "a-late.json", key, "p1", _flip(base, real), finished="2025-03-01T11:30:00.000Z")
    report = read_answers([late, early], key)  # the later submission is read first
    baseline = next(i["baseline"] for i in key["items"] if i["item_id"] == real)

    def pref(result: dict) -> float:
        return next(r["preference"] for r in result["baselines"] if r["baseline"] == baseline)

    first = analyze(key, report, LOOSE, n_bootstrap=0, duplicates="first")
    last = analyze(key, report, LOOSE, n_bootstrap=0, duplicates="last")
    for result in (first, last):
        assert result["n_raters_kept"] == 1 and result["dropped"]["conflicting_duplicates"]["n"] == 0
        assert result["duplicates"]["conflicting"]["resolved_by"] == {"p1": "submission time"}
    assert pref(first) == 1.0  # the early submission preferred the reference on every item
    assert pref(last) < 1.0  # the late one flipped `real`

    # Without times (a long CSV), first/last can only mean the input order, and the report says so.
    path = tmp_path / "long.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("worker_id", "item_id", "choice"), *[("w", i, c) for i, c in base.items()],
                                 ("w", real, _flip(base, real)[real])])
    result = analyze(key, read_answers([path], key), LOOSE, n_bootstrap=0, duplicates="last")
    assert result["duplicates"]["conflicting"]["resolved_by"] == {"w": "input order"}
    with pytest.raises(PartbenchError, match="duplicates policy 'newest' is not one of exclude, first, last"):
        analyze(key, report, LOOSE, n_bootstrap=0, duplicates="newest")


def test_identical_resubmission_counts_once_and_is_reported(tmp_path, study):
    key = study
    a = _page_file(tmp_path / "a.json", key, "p1", _choices(key))
    b = _page_file(tmp_path / "b.json", key, "p1", _choices(key))
    result = analyze(key, read_answers([a, b], key), LOOSE, n_bootstrap=0)
    assert result["n_raters_kept"] == 1
    assert result["duplicates"]["identical"] == {"n_answers": len(key["items"]), "raters": ["p1"]}
    assert all(row["n_votes"] == 3 for row in result["baselines"])  # counted once


def test_rater_who_saw_no_gold_item_is_excluded_when_the_pack_has_gold(tmp_path, study):
    key = study
    path = tmp_path / "batch.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["worker_id", "item_id", "choice", "rt_ms"])
        for item_id, choice in _choices(key).items():
            w.writerow(["all", item_id, choice, 1500])
            if next(i for i in key["items"] if i["item_id"] == item_id)["kind"] != "gold":
                w.writerow(["nogold", item_id, choice, 1500])
    result = analyze(key, read_answers([path], key), LOOSE, n_bootstrap=0)
    assert result["n_raters_kept"] == 1 and result["gold_accuracy"] == {"all": 1.0, "nogold": None}
    assert result["dropped"]["no_gold"] == {"n": 1, "raters": ["nogold"]}

    # A pack without gold items cannot ask for them: the same rater is kept there.
    runs = [Path(r["path"]) for r in key["runs"].values()]
    plain = export_pack(ExportOptions(runs=runs, out=tmp_path / "plain", items=3, gold=0, seed=4))
    rows = [("w", i["item_id"], "left", 1500) for i in plain["items"]]
    with open(tmp_path / "plain.csv", "w", newline="") as f:
        csv.writer(f).writerows([("worker_id", "item_id", "choice", "rt_ms"), *rows])
    result = analyze(plain, read_answers([tmp_path / "plain.csv"], plain), LOOSE, n_bootstrap=0)
    assert result["n_raters_kept"] == 1 and result["dropped"]["no_gold"]["n"] == 0


def test_completion_code_must_match_the_answers(tmp_path, study):
    key, real = study, _first_real(study)
    honest = _page_file(tmp_path / "honest.json", key, "p1", _choices(key))
    # p2 edited a choice after the page computed the code; p3 sent no code; p4 typed the code in lower case.
    code = completion_code(key["completion_salt"], key["pack_id"], "p2", _choices(key).items())
    edited = _page_file(tmp_path / "edited.json", key, "p2", _flip(_choices(key), real), code=code)
    missing = _page_file(tmp_path / "missing.json", key, "p3", _choices(key), code=None)
    lower = _page_file(tmp_path / "lower.json", key, "p4", _choices(key),
                       code=completion_code(key["completion_salt"], key["pack_id"], "p4",
                                            _choices(key).items()).lower())
    result = analyze(key, read_answers([honest, edited, missing, lower], key), LOOSE, n_bootstrap=0)
    assert result["n_raters_kept"] == 2
    assert result["dropped"]["code_mismatch"] == {"n": 2, "raters": ["p2", "p3"]}
    codes = result["completion_codes"]
    assert codes["checked"] and codes["n_files"] == 4
    assert {c["rater"] for c in codes["verified"]} == {"p1", "p4"}
    assert {(c["rater"], c["code"]) for c in codes["mismatch"]} == {("p2", code), ("p3", None)}
    assert len({c["code"] for c in codes["verified"]}) == 2  # same answers, different participants: different codes


def test_cli_duplicates_option_and_report(tmp_path, study):
    from partbench.cli.main import app

    key, out = study, tmp_path / "study"
    files = [str(_page_file(tmp_path / "a.json", key, "p1", _choices(key))),
             str(_page_file(tmp_path / "b.json", key, "p1", _flip(_choices(key), _first_real(key)))),
             str(_page_file(tmp_path / "c.json", key, "p2", _choices(key)))]
    args = ["userstudy", "analyze", "--pack", str(out), *[a for f in files for a in ("--responses", f)],
            "--min-median-rt-ms", "0", "--bootstrap", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 for conflicting repeated answers (p1)" in " ".join(result.output.split())
    saved = json.loads((out / "analysis" / "analysis.json").read_text())
    assert saved["dropped"]["conflicting_duplicates"]["raters"] == ["p1"]
    result = CliRunner().invoke(app, [*args, "--duplicates", "last"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "analysis" / "analysis.json").read_text())["n_raters_kept"] == 2
    bad = CliRunner().invoke(app, [*args, "--duplicates", "random"])
    assert bad.exit_code == 2 and "duplicates policy 'random' is not one of" in bad.output


def _first_gold(key: dict) -> str:
    return next(i["item_id"] for i in key["items"] if i["kind"] == "gold")


def test_cli_names_raters_dropped_for_failed_gold_or_answering_too_fast(tmp_path, study):
    from partbench.cli.main import app

    key, out = study, tmp_path / "study"
    fast = _page_file(tmp_path / "c.json", key, "p3", _choices(key))
    doc = json.loads(fast.read_text())
    for a in doc["answers"]:
        a["rt_ms"] = 100  # (the completion code covers the choices, not the times)
    fast.write_text(json.dumps(doc))
    files = [_page_file(tmp_path / "a.json", key, "p1", _choices(key)),
             _page_file(tmp_path / "b.json", key, "p2", _flip(_choices(key), _first_gold(key))), fast]
    result = CliRunner().invoke(app, ["userstudy", "analyze", "--pack", str(out), "--bootstrap", "0",
                                      *[a for f in files for a in ("--responses", str(f))]])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1 for gold accuracy < 1 (p2)" in text and "1 for median response time < 500 ms (p3)" in text


def test_cli_refuses_out_of_range_thresholds_and_an_empty_responses_folder(tmp_path, study):
    from partbench.cli.main import app

    key, out = study, tmp_path / "study"
    answers = _page_file(tmp_path / "a.json", key, "p1", _choices(key))
    base = ["userstudy", "analyze", "--pack", str(out), "--bootstrap", "0"]
    first = CliRunner().invoke(app, [*base, "--responses", str(answers)])
    assert first.exit_code == 0, first.output
    written = {name: (out / "analysis" / name).read_bytes() for name in ("analysis.json", "preferences.png")}
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [(["--min-gold-accuracy", "2"], "--min-gold-accuracy must be a fraction in [0, 1]"),
             (["--min-gold-accuracy", "100"], "--min-gold-accuracy must be a fraction in [0, 1]"),
             (["--min-gold-accuracy", "-0.1"], "--min-gold-accuracy must be a fraction in [0, 1]"),
             (["--min-median-rt-ms", "-5"], "--min-median-rt-ms must be a time in milliseconds, >= 0")]
    for extra, message in cases:
        bad = CliRunner().invoke(app, [*base, "--responses", str(answers), *extra])
        assert bad.exit_code == 2 and message in " ".join(bad.output.split()), (extra, bad.output)
    bad = CliRunner().invoke(app, [*base, "--responses", str(empty)])
    assert bad.exit_code == 2 and "no answer files" in bad.output and "Traceback" not in bad.output
    assert {name: (out / "analysis" / name).read_bytes() for name in written} == written
    with pytest.raises(PartbenchError, match="fraction"):
        Thresholds(min_gold_accuracy=float("nan"))
