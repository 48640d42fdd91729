"""Listings read at 80 columns: `partbench methods` and `partbench suites` cut no name, repo id or command (each
appears whole on one output line, and no '…' anywhere), tables stack rather than cut, and one item's details are
a command away."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import invoke, walk_commands

from partbench.suites import load_suite, suite_names

REPO = Path(__file__).resolve().parents[2]
# "org/name" not inside a path ("/root/.cache/huggingface/hub" holds no repo id), nor a URL's tail.
REPO_ID = re.compile(r"(?<![\w/.:-])([A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*[A-Za-z0-9])(?![\w/])")
COMMAND = re.compile(r"`([^`]+)`")


def _cli(*args: str, tmp_path: Path) -> str:
    """`partbench ARGS` in a subprocess at 80 columns, with an empty Hugging Face cache (every model missing, so every
    download command is printed)."""
    env = dict(os.environ, COLUMNS="80", HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"),
               PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "partbench", *args], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _whole_on_a_line(text: str, needle: str) -> bool:
    return any(needle in line for line in text.splitlines())


def _words(text: str) -> set[str]:
    return {w.strip("()[],;:.") for line in text.splitlines() for w in line.split()}


def test_methods_at_80_columns_cut_no_name_id_or_command(tmp_path):
    out = _cli("methods", tmp_path=tmp_path)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()[:20]) <= 80  # the table itself fits
    records = json.loads(_cli("methods", "--json", tmp_path=tmp_path))
    # The subprocess's registry (a test in this process may have registered a plugin method of its own).
    assert {"clipseg", "random", "spatial-prior", "seg4diff"} <= {r["name"] for r in records}
    checked_ids = checked_commands = 0
    for r in records:
        assert r["name"] in _words(out), r["name"]
        for text in [r["weights"], *r["missing"]]:
            for repo_id in REPO_ID.findall(text):
                assert _whole_on_a_line(out, repo_id), repo_id
                checked_ids += 1
            for command in COMMAND.findall(text):
                assert _whole_on_a_line(out, command), command
                checked_commands += 1
    assert checked_ids >= 8 and checked_commands >= 5  # the registry's HF models, with an empty cache


def test_suites_at_80_columns_cut_no_name_or_command(tmp_path):
    out = _cli("suites", tmp_path=tmp_path)
    assert "…" not in out
    table = out.split("Details:")[0]
    assert max(len(line.rstrip()) for line in table.splitlines()) <= 80
    for name in suite_names():
        suite = load_suite(name)
        assert f"{name} v{suite.version}" in table, name  # name and version whole on the suite's line
        if suite.task != "generation":  # missing data: the steps, each command whole on one line
            for command in COMMAND.findall(suite.obtain):
                assert _whole_on_a_line(out, command), command


def test_details_of_one_method_and_one_suite(tmp_path):
    seg = invoke("methods", "spatial-prior")
    assert seg.exit_code == 0 and "what it is" in seg.output and "runs here   yes" in seg.output
    assert "…" not in seg.output
    both = json.loads(invoke("methods", "oracle", "--json").output)  # one record per task kind it serves
    assert len(both) >= 2 and {r["name"] for r in both} == {"oracle"}
    unknown = invoke("methods", "spatial-prio")
    assert unknown.exit_code == 2 and "Did you mean 'spatial-prior'" in unknown.output
    suite = invoke("suites", "pascal-part-116")
    assert suite.exit_code == 0 and "116 (74 seen, 42 unseen)" in suite.output and "get it" in suite.output
    assert json.loads(invoke("suites", "demo", "--json").output)[0]["splits"] == ["train", "val"]


def _results(folder: Path, name: str, **extra) -> None:
    folder.mkdir(parents=True)
    doc = {"suite": "demo", "suite_version": load_suite("demo").version, "method": name.split("@")[0],
           "run_name": name, "convention": "ovparts", "n_samples": 182,
           "metrics": {"seen_miou": 31.854, "unseen_miou": 22.78, "h_iou": 26.56, "lr_confusion": 21.74},
           "ci95": {"seen_miou": [28.85, 34.86], "unseen_miou": [20.38, 25.18], "h_iou": [24.68, 28.44],
                    "lr_confusion": [19.28, 24.2]}} | extra
    (folder / "results.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("width", [80, 50])
def test_table_with_intervals_stacks_rather_than_cuts(tmp_path, monkeypatch, width):
    from partbench.console import console

    monkeypatch.setattr(console, "width", width)
    _results(tmp_path / "runs/demo/partconcepts@61c2ab34", "partconcepts@61c2ab34", meaningful=False, limit=50)
    _results(tmp_path / "runs/demo/spatial-prior", "spatial-prior")
    out = invoke("table", "--runs-root", tmp_path / "runs", "--ci", "--no-published").output
    assert "…" not in out and "spatial-prior" in _words(out)
    assert "31.85" in out and "± 3.00" in out  # numbers and half-widths whole (the value may sit over its ±)
    if width == 80:
        assert "partconcepts@61c2" in _words(out) and "(partial)" in out  # the args hash may be shortened
        assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    else:  # too narrow for a table: one block per run, names and "value ± half-width" whole
        assert "partconcepts@61c2ab34 (smoke) (partial)" in out and "31.85 ± 3.00" in out


def test_userstudy_table_stacks_at_80_columns(monkeypatch, capsys, tmp_path):
    from partbench.console import console
    from partbench.userstudy.report import print_analysis

    monkeypatch.setattr(console, "width", 80)
    row = {"baseline": "flux2-klein@0a1b2c3d", "preference": 0.625, "ci95_exact": [0.51, 0.73],
           "ci95_rater_bootstrap": [0.48, 0.76], "p_value": 0.0312, "p_value_holm": 0.0624,
           "item_majority_win_rate": 0.7, "n_raters": 12, "n_items": 20, "n_votes": 240}
    group = {"n": 0, "raters": []}
    result = {"reference": "partconcepts", "question": "Which image follows the prompt's parts better?",
              "baselines": [row, row | {"baseline": "nano-banana-images"}],
              "dropped": dict.fromkeys(("conflicting_duplicates", "code_mismatch", "no_gold", "failed_gold",
                                        "too_fast"), group),
              "thresholds": {"min_gold_accuracy": 0.8, "min_median_rt_ms": 800}, "rejected_assignments": 0,
              "duplicates": {"identical": {"n_answers": 0}, "policy": "exclude", "conflicting": {"raters": []}},
              "completion_codes": {"n_files": 0, "verified": []}, "n_raters_total": 12, "n_raters_kept": 12,
              "left_bias": {"p_left": 0.5, "n_votes": 240, "p_value": 1.0},
              "repeat_consistency": {"consistent": 12, "n_raters": 12}}
    print_analysis(result, tmp_path / "analysis.json", tmp_path / "chart.png")
    out = capsys.readouterr().out
    assert "…" not in out
    for needle in ("flux2-klein@0a1b2c3d", "nano-banana-images", "rater-bootstrap 95% CI  [48.0, 76.0]",
                   "exact 95% CI", "62.5"):
        assert _whole_on_a_line(out, needle), needle


@pytest.mark.parametrize("command", ["compare", "report", "show", "figure"])
def test_new_commands_start_light(command):
    """Their help (and the CLI's import) loads no numpy, matplotlib or torch: those come when the command runs."""
    code = ("import sys\nfrom partbench.cli.main import app\n"
            f"try:\n    app([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('numpy', 'matplotlib', 'torch', 'scipy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def _command_paths() -> list[tuple[list[str], object]]:
    """Every command and group of the CLI, as the words that name it (`[]` is `partbench` itself)."""
    return [(words, command) for words, command, _ in walk_commands()]


def test_every_help_at_80_columns_cuts_nothing():
    from typer.testing import CliRunner

    from partbench.cli.main import app

    found = _command_paths()
    assert len(found) >= 20 and ["userstudy", "export"] in [p for p, _ in found]
    for path, command in found:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        where = " ".join(["partbench", *path, "--help"])
        assert result.exit_code == 0, (where, result.output)
        assert "…" not in result.output, (where, result.output)
        assert max(len(line) for line in result.output.splitlines()) <= 80, where
        for param in getattr(command, "params", []):
            for name in [*param.opts, *param.secondary_opts]:
                assert _whole_on_a_line(result.output, name), (where, name)


def test_layer_sweep_runs_are_listed_in_natural_order(tmp_path):
    for layer in (10, 2, 1):
        _results(tmp_path / f"runs/demo/seg4diff@layer={layer}", f"seg4diff@layer={layer}")
    _results(tmp_path / "runs/demo/random", "random")
    expected = ["random", "seg4diff@layer=1", "seg4diff@layer=2", "seg4diff@layer=10"]
    for args in (("--runs-root", tmp_path / "runs"), (tmp_path / "runs",)):
        out = invoke("table", *args, "--no-published", "--format", "csv").output
        assert [r["run_name"] for r in csv.DictReader(io.StringIO(out))] == expected, out
    # Paths named one by one keep the order they were given in.
    named = [tmp_path / "runs/demo" / n for n in ("seg4diff@layer=10", "random")]
    out = invoke("table", *named, "--no-published", "--format", "csv").output
    assert out.index("seg4diff@layer=10") < out.index("random"), out


def test_suites_without_part_classes_show_no_class_counts():
    rows = {r["name"]: r for r in json.loads(invoke("suites", "--json").output)}
    for name in ("demo-t2i", "demo-partonomy", "partedit-real"):
        assert rows[name]["classes"] is None and rows[name]["mirrored_pairs"] is None, rows[name]
    assert rows["demo"]["classes"] == load_suite("demo").num_classes and rows["demo"]["size"] is None
    assert rows["demo-t2i"]["size"] == "8 prompts" and rows["partedit-real"]["size"] == "13 edits (real)"
    listing = invoke("suites").output
    line = next(line for line in listing.splitlines() if line.startswith("demo-t2i "))
    assert line.split()[3:6] == ["—", "—", "—"], line  # not "0 0 0"
    details = " ".join(invoke("suites", "partedit-real").output.split())
    assert "classes none: 13 edits (real)" in details


def test_a_method_missing_only_weights_points_at_its_tiny_preset(tmp_path, monkeypatch):
    """`runs here: no` for want of weights alone: its tiny preset still runs (a smoke test); a method without one
    (langhops needs its own codebase) gets no such pointer."""
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    flux = " ".join(invoke("methods", "flux2-klein").output.split())
    assert "runs here no (its tiny preset runs without weights: -a preset=tiny, a smoke test)" in flux
    langhops = " ".join(invoke("methods", "langhops").output.split())
    assert "runs here no" in langhops and "preset=tiny" not in langhops
