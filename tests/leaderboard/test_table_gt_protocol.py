"""`partbench table` with runs on different ground-truth protocols (native annotations vs `--gt-resize`): which
protocol competes for best, how the excluded rows are marked, and the machine-readable formats' protocol fields."""

from __future__ import annotations

import csv
import io
import json

from table_helpers import md_rows, write_result

SUITE = "pascal-part-116"
TRIP = "640,768"


def _run(root, name, h_iou, **fields):
    write_result(root / SUITE / name, metrics={"seen_miou": h_iou, "unseen_miou": h_iou, "h_iou": h_iou}, **fields)


def _md(cli, root):
    r = cli("--runs-root", root, "--format", "markdown", "--no-published")
    assert r.exit_code == 0, r.output
    return r.stdout, md_rows(r.stdout)


def test_protocol_tie_goes_to_native(cli, tmp_path):
    """2 native vs 2 resized measured runs: the native annotations win the tie, even though the resized runs are
    listed first (and score higher); the resized runs are marked and never bold."""
    root = tmp_path / "runs"
    _run(root, "a-resized", 90.0, gt_resize=TRIP)
    _run(root, "b-resized", 80.0, gt_resize=TRIP)
    _run(root, "c-native", 50.0)
    _run(root, "d-native", 40.0)
    out, rows = _md(cli, root)
    assert rows["c-native"][0] == "**50.00**"
    assert rows["a-resized (gt 640,768)"][0] == "90.00"
    assert "d-native" in rows  # native rows of the winning protocol carry no protocol mark
    assert "(gt 640,768) a-resized" in out and "never counts as best" in out


def test_only_rows_that_can_be_best_vote_for_the_protocol(cli, tmp_path):
    """2 native measured runs vs 3 resized runs of which one is smoke and one partial (`--limit`): only one resized
    run can be best, so the native protocol is the table's (before, the 3 resized rows outvoted the 2 native)."""
    root = tmp_path / "runs"
    _run(root, "a-resized", 90.0, gt_resize=TRIP)
    _run(root, "b-smoke", 95.0, gt_resize=TRIP, meaningful=False)
    _run(root, "c-partial", 99.0, gt_resize=TRIP, limit=4)
    _run(root, "d-native", 50.0)
    _run(root, "e-native", 40.0)
    _, rows = _md(cli, root)
    assert rows["d-native"][0] == "**50.00**"
    assert rows["a-resized (gt 640,768)"][0] == "90.00"


def test_smoke_resized_row_does_not_break_a_tie(cli, tmp_path):
    """2 native vs 3 resized runs where one resized run is smoke: 2 votes each (a partial native run does not vote
    either), and the tie goes to the native annotations."""
    root = tmp_path / "runs"
    _run(root, "a-resized", 90.0, gt_resize=TRIP)
    _run(root, "b-resized", 85.0, gt_resize=TRIP)
    _run(root, "c-smoke", 95.0, gt_resize=TRIP, meaningful=False)
    _run(root, "d-native", 50.0)
    _run(root, "e-native", 45.0)
    _run(root, "f-native-partial", 60.0, limit=4)
    _, rows = _md(cli, root)
    assert rows["d-native"][0] == "**50.00**"
    assert rows["a-resized (gt 640,768)"][0] == "90.00"


def test_native_rows_excluded_by_protocol_are_marked(cli, tmp_path):
    """1 native vs 2 resized measured runs: the round trip is the table's protocol, and the native row, excluded
    from best, says so with a mark and a footnote."""
    root = tmp_path / "runs"
    _run(root, "a-native", 90.0)
    _run(root, "b-resized", 50.0, gt_resize=TRIP)
    _run(root, "c-resized", 40.0, gt_resize=TRIP)
    out, rows = _md(cli, root)
    assert rows["b-resized (gt 640,768)"][0] == "**50.00**"
    assert rows["a-native (gt native)"][0] == "90.00"
    assert "(gt native) a-native: scored on the native annotations" in out
    assert TRIP in out.split("(gt native) a-native")[1]


def test_json_and_csv_carry_protocol_and_comparability_fields(cli, tmp_path):
    root = tmp_path / "runs"
    _run(root, "a-native", 90.0)
    _run(root, "b-resized", 50.0, gt_resize=TRIP)
    _run(root, "c-resized", 40.0, gt_resize=TRIP)
    _run(root, "d-partial", 30.0, gt_resize=TRIP, limit=4)
    _run(root, "e-incomplete", 20.0, gt_resize=TRIP, data={"fingerprint": "f" * 16, "complete": False})
    _run(root, "f-smoke", 10.0, gt_resize=TRIP, meaningful=False)
    r = cli("--runs-root", root, "--format", "json", "--no-published")
    assert r.exit_code == 0, r.output
    recs = {rec["label"]: rec for rec in json.loads(r.stdout)}
    native, resized = recs["a-native"], recs["b-resized"]
    assert native["gt_resize"] is None and native["other_gt"] is True and native["flags"] == ["(gt native)"]
    assert resized["gt_resize"] == TRIP and resized["other_gt"] is False and resized["flags"] == ["(gt 640,768)"]
    assert resized["competes"] is True and native["competes"] is False
    assert resized["meaningful"] is True and recs["f-smoke"]["meaningful"] is False
    assert recs["d-partial"]["limit"] == 4 and recs["d-partial"]["partial"] is True and resized["partial"] is False
    assert "(partial)" in recs["d-partial"]["flags"]
    assert recs["e-incomplete"]["data_complete"] is False and resized["data_complete"] is True
    assert resized["other_data"] is False and resized["data_fingerprint"] is None
    assert recs["e-incomplete"]["data_fingerprint"] == "f" * 16
    r = cli("--runs-root", root, "--format", "csv", "--no-published")
    assert r.exit_code == 0, r.output
    rows = {row["label"]: row for row in csv.DictReader(io.StringIO(r.stdout))}
    assert rows["b-resized"]["gt_resize"] == TRIP and rows["a-native"]["gt_resize"] == ""
    assert rows["a-native"]["other_gt"] == "True" and rows["a-native"]["flags"] == "(gt native)"
    assert rows["d-partial"]["limit"] == "4" and rows["d-partial"]["partial"] == "True"
    assert rows["e-incomplete"]["data_complete"] == "False" and rows["f-smoke"]["meaningful"] == "False"
    assert rows["b-resized"]["competes"] == "True" and rows["b-resized"]["other_data"] == "False"


def test_incomplete_data_runs_do_not_decide_the_tables_data(cli, tmp_path):
    """One complete run and two scored with --allow-incomplete-data (files missing: another fingerprint each time):
    the complete run is not `(other data)`; the incomplete ones carry their own mark only."""
    root = tmp_path / "runs"
    complete = {"fingerprint": "c" * 64, "complete": True}
    incomplete = {"fingerprint": "i" * 64, "complete": False, "problems": ["x.png: missing"]}
    _run(root, "a-complete", 50.0, data=complete)
    _run(root, "b-incomplete", 60.0, data=incomplete)
    _run(root, "c-incomplete", 70.0, data=incomplete)
    out, rows = _md(cli, root)
    assert "a-complete" in rows and "b-incomplete (incomplete data)" in rows
    assert "(other data)" not in out
