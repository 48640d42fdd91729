"""`partbench table` and `leaderboards/published.yaml`: formats, best cells, markers, published rows, errors, speed."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the package may not be installed yet
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from partbench import leaderboard as lb  # noqa: E402
from partbench.errors import PartbenchError  # noqa: E402

PUBLISHED = REPO / "leaderboards" / "published.yaml"
SHARED_REFERENCE = Path("/work/shared/reference/published/partconcepts-paper.yaml")
PAPER_T1 = "PartConcepts: A Unified Mechanism for Fine-Grained Part Localization and Generation, Table 1"
UNREGISTERED = "not-a-registered-suite"


def suite_version(name: str = "pascal-part-116") -> str:
    from partbench.suites import load_suite

    return str(load_suite(name).version)


def write_result(run_dir: Path, **fields) -> Path:
    """A complete results.json (DESIGN §4) with `fields` overriding the defaults; a value None deletes a key."""
    data = {
        "schema_version": 1,
        "suite": "pascal-part-116",
        "suite_version": suite_version(),
        "split": "val",
        "task": "part-semantic",
        "method": run_dir.name.split("@")[0],
        "method_args": {},
        "run_name": run_dir.name,
        "convention": "ovparts",
        "setting": "oracle-object",
        "n_samples": 24,
        "n_skipped": {"no_part_classes": 0, "empty_ground_truth": 0},
        "metrics": {"h_iou": 12.3, "seen_miou": 15.0, "unseen_miou": 10.4, "miou": 13.1},
        "higher_is_better": {"h_iou": True, "seen_miou": True, "unseen_miou": True, "lr_confusion": False},
        "ci95": {},
        "meaningful": True,
        "per_class": [],
        "provenance": {"partbench": "0.1.0", "git": "abc123", "command": "test", "created": "2026-11-21T00:00:00"},
    }
    for k, v in fields.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "results.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def cli():
    from partbench.cli.main import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["table", *map(str, args)])

    return invoke


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    """Two comparable runs: `alpha` wins seen mIoU and h-IoU, `beta` wins unseen mIoU and (lower) lr_confusion."""
    root = tmp_path / "runs"
    write_result(
        root / "pascal-part-116" / "alpha",
        metrics={"seen_miou": 50.0, "unseen_miou": 30.0, "h_iou": 37.5, "miou": 40.0, "lr_confusion": 20.0},
        ci95={"h_iou": [35.5, 39.5], "seen_miou": [48.0, 52.0]},
    )
    write_result(
        root / "pascal-part-116" / "beta@1a2b3c4d",
        metrics={"seen_miou": 40.0, "unseen_miou": 35.0, "h_iou": 37.33, "miou": 38.0, "lr_confusion": 10.0},
    )
    return root


def md_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell (label)."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| Run"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# Formats and best cells


def test_markdown_bold_best_including_lower_is_better(cli, two_runs):
    r = cli("--runs-root", two_runs, "--format", "markdown", "--no-published")
    assert r.exit_code == 0, r.output
    header = next(line for line in r.stdout.splitlines() if line.startswith("| Run"))
    assert header.split(" | ")[1:5] == ["seen mIoU", "unseen mIoU", "h-IoU", "L/R conf. ↓"]
    rows = md_rows(r.stdout)
    assert rows["alpha"][:4] == ["**50.00**", "30.00", "**37.50**", "20.00"]
    assert rows["beta@1a2b3c4d"][:4] == ["40.00", "**35.00**", "37.33", "**10.00**"]  # lowest L/R confusion wins
    assert rows["alpha"][-1] == "measured"
    assert "lower is better" in r.stdout


def test_latex_booktabs_escaping_and_published_dagger(cli, tmp_path):
    root = tmp_path / "runs"
    write_result(root / "pascal-part-116" / "a", run_name="my_run & co 100% #1",
                 metrics={"seen_miou": 60.0, "unseen_miou": 40.0, "h_iou": 48.0})  # fmt: skip
    write_result(root / "pascal-part-116" / "b", metrics={"seen_miou": 50.0, "unseen_miou": 45.0, "h_iou": 47.4})
    r = cli("--runs-root", root, "--format", "latex")
    assert r.exit_code == 0, r.output
    tex = r.stdout
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrrr}"):
        assert token in tex
    assert r"my\_run \& co 100\% \#1 & \textbf{60.00} & 40.00 & \textbf{48.00} \\" in tex
    assert r"b & 50.00 & \textbf{45.00} & 47.40 \\" in tex
    # the published block follows its own \midrule, each row daggered, and the footnote cites the source
    body = tex[tex.index(r"b & 50.00"):]
    assert body.splitlines()[1] == r"\midrule"
    assert r"PartConcepts\textsuperscript{\dag} & \textbf{65.0} & \textbf{49.7} & \textbf{56.3} \\" in tex
    assert r"\textsuperscript{\dag} " + PAPER_T1 in tex
    assert r"\textsuperscript{\ddag} OV-PARTS" in tex  # second source, second marker
    assert "my_run &" not in tex


def test_csv_is_raw_and_marks_source(cli, two_runs):
    r = cli("--runs-root", two_runs, "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    measured = {row["label"]: row for row in rows if row["source"] == "measured"}
    assert set(measured) == {"alpha", "beta@1a2b3c4d"}
    assert measured["beta@1a2b3c4d"]["h_iou"] == "37.33"
    assert measured["alpha"]["h_iou_ci95_low"] == "35.5"
    assert measured["alpha"]["best"] == "seen_miou;h_iou"
    published = [row for row in rows if row["source"] == "published"]
    assert published and all(row["citation"] for row in published)
    ours = next(row for row in published if row["label"] == "PartConcepts" and row["citation"] == PAPER_T1)
    assert (ours["seen_miou"], ours["unseen_miou"], ours["h_iou"]) == ("65.0", "49.7", "56.3")
    assert ours["lr_confusion"] == ""


def test_json_rows(cli, two_runs):
    r = cli("--runs-root", two_runs, "--format", "json", "--metrics", "h_iou,lr_confusion")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert isinstance(rows, list)
    assert {row["source"] for row in rows} == {"measured", "published"}
    beta = next(row for row in rows if row["label"] == "beta@1a2b3c4d")
    assert beta["metrics"] == {"h_iou": 37.33, "lr_confusion": 10.0}
    assert beta["best"] == ["lr_confusion"] and beta["lower_is_better"] == ["lr_confusion"]
    alpha = next(row for row in rows if row["label"] == "alpha")
    assert alpha["ci95"] == {"h_iou": [35.5, 39.5]}
    assert alpha["path"].endswith("results.json")
    pub = [row for row in rows if row["source"] == "published"]
    assert all(row["metrics"]["lr_confusion"] is None for row in pub)
    assert all(isinstance(row["metrics"]["h_iou"], float) for row in pub)


def test_rich_bold_cells_and_sections(two_runs):
    from rich.console import Console

    rows = lb.load_rows(lb.find_result_files(None, two_runs))
    tables = lb.build_tables(rows, lb.load_published())
    console = Console(record=True, width=200, force_terminal=True, color_system="standard", file=io.StringIO())
    for renderable in lb.render_rich(tables, ci=True):
        console.print(renderable)
    text = console.export_text(styles=False, clear=False)
    assert "Pascal-Part-116" in text and "pascal-part-116" in text
    assert "50.00 ± 2.00" in text and "37.50 ± 2.00" in text
    assert "PartConcepts [1]" in text and "[1] " + PAPER_T1 in text
    ansi = console.export_text(styles=True)

    def bold(cell: str) -> bool:
        return re.search(r"\x1b\[1m *" + re.escape(cell), ansi) is not None

    assert bold("50.00 ± 2.00") and bold("10.00") and bold("35.00")
    assert not bold("40.00") and not bold("30.00")  # beta's seen, alpha's unseen mIoU are not best
    assert re.search(r"\x1b\[1;2m *65\.0", ansi)  # best published cell: bold within the dim block


def test_rich_is_the_default_format(cli, two_runs):
    r = cli("--runs-root", two_runs)
    assert r.exit_code == 0, r.output
    assert "alpha" in r.stdout and "L/R conf. ↓" in r.stdout and "published" in r.stdout.lower()


# ---------------------------------------------------------------------------------------------------------------------
# Missing values, markers


def test_null_and_absent_metrics_render_as_dash(cli, tmp_path):
    root = tmp_path / "runs"
    # a suite with only unseen objects: seen and h-IoU undefined (null), miou absent
    metrics = {"seen_miou": None, "unseen_miou": 22.5, "h_iou": None}
    write_result(root / "pascal-part-116" / "unseen-only", metrics=metrics)
    r = cli("--runs-root", root, "--format", "markdown", "--no-published")
    assert r.exit_code == 0, r.output
    assert md_rows(r.stdout)["unseen-only"][:3] == ["—", "22.50", "—"]
    r = cli("--runs-root", root, "--format", "latex", "--no-published")
    assert r"unseen-only & -- & 22.50 & -- \\" in r.stdout
    r = cli("--runs-root", root, "--format", "json", "--no-published")
    assert json.loads(r.stdout)[0]["metrics"] == {"seen_miou": None, "unseen_miou": 22.5, "h_iou": None}


def test_stale_run_is_marked_and_never_best(cli, tmp_path):
    root = tmp_path / "runs"
    current = suite_version()
    write_result(root / "pascal-part-116" / "old", suite_version=current + "-old",
                 metrics={"seen_miou": 90.0, "unseen_miou": 90.0, "h_iou": 90.0})  # fmt: skip
    write_result(root / "pascal-part-116" / "new1", metrics={"seen_miou": 50.0, "unseen_miou": 40.0, "h_iou": 44.4})
    write_result(root / "pascal-part-116" / "new2", metrics={"seen_miou": 40.0, "unseen_miou": 30.0, "h_iou": 34.3})
    r = cli("--runs-root", root, "--format", "markdown", "--no-published")
    assert r.exit_code == 0, r.output
    rows = md_rows(r.stdout)
    assert rows["old (stale)"][:3] == ["90.00", "90.00", "90.00"]
    assert rows["new1"][:3] == ["**50.00**", "**40.00**", "**44.40**"]
    assert f"re-run: suite changed from v{current}-old to v{current}" in r.stdout
    rows = json.loads(cli("--runs-root", root, "--format", "json", "--no-published").stdout)
    old = next(row for row in rows if row["label"] == "old")
    assert old["stale"] is True and old["current_suite_version"] == current


def test_smoke_run_is_flagged_and_never_best(cli, two_runs):
    write_result(two_runs / "pascal-part-116" / "tiny", meaningful=False,
                 metrics={"seen_miou": 99.0, "unseen_miou": 99.0, "h_iou": 99.0, "lr_confusion": 0.0})  # fmt: skip
    r = cli("--runs-root", two_runs, "--format", "markdown", "--no-published")
    rows = md_rows(r.stdout)
    assert rows["tiny (smoke)"][:4] == ["99.00", "99.00", "99.00", "0.00"]
    assert rows["alpha"][0] == "**50.00**" and rows["beta@1a2b3c4d"][3] == "**10.00**"
    assert "(smoke): results.json says meaningful: false" in r.stdout
    tex = cli("--runs-root", two_runs, "--format", "latex", "--no-published").stdout
    assert "tiny (smoke) & 99.00" in tex


def test_unregistered_suite_and_generation_columns(cli, tmp_path):
    root = tmp_path / "runs"
    write_result(root / UNREGISTERED / "m", suite=UNREGISTERED, suite_version="7")
    write_result(root / "gen-suite-x" / "g1", suite="gen-suite-x", task="generation", metrics={"clip_score": 25.5})
    write_result(root / "gen-suite-x" / "g2", suite="gen-suite-x", task="generation", metrics={"clip_score": 26.5})
    r = cli("--runs-root", root, "--format", "markdown")
    assert r.exit_code == 0, r.output
    assert f"### {UNREGISTERED}" in r.stdout  # the name heads the table when the suite is not registered
    assert "| Run / method | CLIP score | Conv. | Source |" in r.stdout
    assert md_rows(r.stdout)["g2"][0] == "**26.50**"
    assert "(stale)" not in r.stdout


def test_published_t2i_rows_use_clip_score(cli, tmp_path):
    root = tmp_path / "runs"
    write_result(root / "t2i-part-prompts" / "flux", suite="t2i-part-prompts", task="generation",
                 metrics={"clip_score": 25.61})  # fmt: skip
    r = cli("--runs-root", root, "--format", "markdown", "--suite", "t2i-part-prompts")
    rows = md_rows(r.stdout)
    assert rows["FLUX.2"][0] == "**26.07**" and rows["PartConcepts"][0] == "25.00"
    assert rows["flux"][0] == "25.61"  # a lone measured value is not bold
    assert "Table 4" in r.stdout


# ---------------------------------------------------------------------------------------------------------------------
# Published rows


def test_published_rows_switch_off(cli, two_runs):
    on = cli("--runs-root", two_runs, "--format", "markdown")
    assert "published [1]" in on.stdout and PAPER_T1 in on.stdout and "OV-PARTS" in on.stdout
    assert md_rows(on.stdout)["CLIPSeg (VA+L+F+D)"][:3] == ["48.68", "27.37", "35.04"]
    off = cli("--runs-root", two_runs, "--format", "markdown", "--no-published")
    assert off.exit_code == 0
    assert "published" not in off.stdout.replace("among the published rows", "")
    assert PAPER_T1 not in off.stdout


def test_no_runs_shows_published_or_exits_1(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("--runs-root", empty, "--no-published")
    assert r.exit_code == 1 and "No results found" in r.stderr
    r = cli("--runs-root", empty, "--format", "markdown", "--suite", "partimagenet-ood")
    assert r.exit_code == 0 and "Showing published numbers only" in r.stderr
    assert md_rows(r.stdout)["PartConcepts"][:3] == ["—", "**67.30**", "—"]
    r = cli("--runs-root", empty, "--format", "json")  # every suite that has published numbers
    assert r.exit_code == 0
    assert {row["suite"] for row in json.loads(r.stdout)} >= {"pascal-part-116", "pascal-part", "t2i-part-prompts"}
    r = cli("--runs-root", empty, "--suite", "no-such-suite")
    assert r.exit_code == 1


def test_missing_published_file(cli, two_runs, tmp_path, monkeypatch):
    monkeypatch.setattr(lb, "published_path", lambda: tmp_path / "nowhere" / "published.yaml")
    r = cli("--runs-root", two_runs, "--published")
    assert r.exit_code == 2 and "published reference numbers not found" in r.output
    r = cli("--runs-root", two_runs, "--format", "markdown")  # default: a note, the measured table still shows
    assert r.exit_code == 0 and "no published numbers" in r.stderr and "alpha" in r.stdout


def test_published_yaml_hand_copied_values():
    rows = lb.load_published(PUBLISHED)
    assert len(rows) == 44

    def get(method, suite, citation_part=""):
        (row,) = [r for r in rows if r.method == method and r.suite == suite and citation_part in (r.citation or "")]
        return row

    assert get("PartConcepts", "pascal-part-116").metrics == {"seen_miou": 65.0, "unseen_miou": 49.7, "h_iou": 56.3}
    assert get("PartConcepts", "ade20k-part-234").metrics == {"seen_miou": 53.4, "unseen_miou": 61.9, "h_iou": 57.3}
    assert get("PartCATSeg", "partimagenet").metrics == {"seen_miou": 73.8, "unseen_miou": 71.5, "h_iou": 72.7}
    assert get("VLPart", "pascal-part-116").metrics == {"seen_miou": 42.6, "unseen_miou": 18.7, "h_iou": 26.0}
    assert get("PartCLIPSeg", "partimagenet-ood").metrics == {"unseen_miou": 59.16}
    assert get("PartConcepts", "partimagenet-to-pascal-part-116").metrics == {"unseen_miou": 30.0}
    assert get("LangHOPS", "pascal-part").metrics == {"seen_miou": 38.4, "unseen_miou": 38.7, "h_iou": 38.5}
    assert get("Nano Banana 2", "t2i-part-prompts").metrics == {"clip_score": 23.53}
    ov = get("CATSeg (B+D)", "pascal-part-116")
    assert ov.metrics == {"seen_miou": 43.97, "unseen_miou": 26.11, "h_iou": 32.76} and ov.convention == "ovparts"
    assert get("CLIPSeg (VA+L+F+D)", "ade20k-part-234-to-pascal-part-116").metrics == {"miou": 19.69}
    # cells printed as not reported ('*') are omitted, not zero
    assert not [r for r in rows if r.method == "VLPart" and r.suite != "pascal-part-116"]
    assert not [r for r in rows if r.method in ("ZSSeg+", "PartGLEE") and r.suite == "partimagenet"]


def test_published_yaml_schema_and_h_iou_consistency():
    raw = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    suites = {"pascal-part-116", "ade20k-part-234", "partimagenet", "partimagenet-ood",
              "partimagenet-to-pascal-part-116", "ade20k-part-234-to-pascal-part-116", "pascal-part",
              "t2i-part-prompts"}  # fmt: skip
    keys = {"seen_miou", "unseen_miou", "h_iou", "miou", "clip_score"}
    mismatches = []
    for e in raw["entries"]:
        assert e["suite"] in suites, e
        assert set(e["metrics"]) <= keys, e
        assert all(isinstance(v, float) for v in e["metrics"].values()), e
        assert e["citation"] and e["convention"] in ("ovparts", "unknown"), e
        if e["convention"] == "unknown":
            assert e.get("note"), e
        if e["suite"] != "t2i-part-prompts":
            assert e["setting"] == "oracle-object", e
        m = e["metrics"]
        if {"seen_miou", "unseen_miou", "h_iou"} <= set(m):
            s, u = m["seen_miou"], m["unseen_miou"]
            if abs(2 * s * u / (s + u) - m["h_iou"]) > 0.15:
                mismatches.append((e["method"], e["suite"], m))
    assert not mismatches


@pytest.mark.skipif(not SHARED_REFERENCE.is_file(), reason="shared reference numbers not present")
def test_published_yaml_matches_shared_reference():
    """Every number of the reference collection is in published.yaml (and nothing else)."""
    ref = yaml.safe_load(SHARED_REFERENCE.read_text(encoding="utf-8"))
    names = {"ADE20K-Part-234": "ade20k-part-234", "Pascal-Part-116": "pascal-part-116",
             "PartImageNet": "partimagenet", "PartImageNet-OOD": "partimagenet-ood",
             "PartImageNet-to-Pascal-Part-116": "partimagenet-to-pascal-part-116",
             "cross ADE20K-Part-234 -> Pascal-Part-116": "ade20k-part-234-to-pascal-part-116"}  # fmt: skip
    triple = ("seen_miou", "unseen_miou", "h_iou")
    expected = set()
    for ds, rows in ref["table1_zero_shot_ovps"].items():
        expected |= {("Table 1", m, names[ds], tuple(zip(triple, v))) for m, v in rows.items() if v is not None}
    for ds, rows in ref["table2_cross_dataset"].items():
        expected |= {("Table 2", m, names[ds], (("unseen_miou", v),)) for m, v in rows.items()}
    for m, v in ref["table3_pascal_part_instance"].items():
        expected.add(("Table 3", m, "pascal-part", tuple(zip(triple, v))))
    for m, v in ref["table4_clip_similarity"].items():
        expected.add(("Table 4", m, "t2i-part-prompts", (("clip_score", v),)))
    for ds, rows in ref["ovparts_readme_reference"].items():
        for m, v in rows.items():
            metrics = tuple(zip(triple, v)) if isinstance(v, list) else (("miou", v),)
            expected.add(("OV-PARTS", m, names[ds], metrics))
    got = set()
    for r in lb.load_published(PUBLISHED):
        source = "OV-PARTS" if r.citation.startswith("OV-PARTS") else r.citation.rsplit(", ", 1)[1]
        order = triple + ("miou", "clip_score")
        got.add((source, r.method, r.suite, tuple(sorted(r.metrics.items(), key=lambda kv: order.index(kv[0])))))
    assert got == expected


# ---------------------------------------------------------------------------------------------------------------------
# Input handling


def test_invalid_json_names_the_file(cli, tmp_path):
    bad = tmp_path / "runs" / "pascal-part-116" / "broken" / "results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"suite": "pascal-part-116", ', encoding="utf-8")
    r = cli("--runs-root", tmp_path / "runs")
    assert r.exit_code == 2
    assert str(bad) in r.output and "not valid JSON" in r.output and "Traceback" not in r.output
    with pytest.raises(PartbenchError, match="broken"):
        lb.load_result(bad)


def test_missing_keys_and_bad_values_are_errors(cli, tmp_path):
    f = tmp_path / "score-output.json"
    f.write_text(json.dumps({"suite": "pascal-part-116", "metrics": {}}), encoding="utf-8")
    r = cli(f)
    assert r.exit_code == 2 and "score-output.json" in r.output and "'method'" in r.output
    f.write_text(json.dumps({"suite": "s", "method": "m", "metrics": {"h_iou": "high"}}), encoding="utf-8")
    with pytest.raises(PartbenchError, match=r"metrics\['h_iou'\]"):
        lb.row_from_result(lb.load_result(f), f)
    f.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(PartbenchError, match="JSON object"):
        lb.load_result(f)


def test_paths_dirs_without_results_and_suite_filter(cli, two_runs, tmp_path):
    pending = two_runs / "pascal-part-116" / "pending"
    (pending / "predictions").mkdir(parents=True)
    write_result(two_runs / "ade20k-part-234" / "x", suite="ade20k-part-234")
    loose = write_result(tmp_path / "elsewhere", run_name="scored-elsewhere")

    r = cli("--runs-root", two_runs, "--format", "json", "--no-published")
    assert r.exit_code == 0
    assert "pending" in r.stderr and "skipped" in r.stderr
    assert {row["suite"] for row in json.loads(r.stdout)} == {"pascal-part-116", "ade20k-part-234"}

    r = cli("--runs-root", two_runs, "--format", "json", "--no-published", "--suite", "ade20k-part-234")
    assert [row["label"] for row in json.loads(r.stdout)] == ["x"]

    r = cli(two_runs / "pascal-part-116" / "alpha", loose, pending, "--format", "json", "--no-published")
    assert r.exit_code == 0, r.output
    assert [row["label"] for row in json.loads(r.stdout)] == ["alpha", "scored-elsewhere"]
    assert "pending" in r.stderr


def test_metrics_override_and_ci(cli, two_runs):
    r = cli("--runs-root", two_runs, "--format", "markdown", "--no-published", "--metrics", "miou,h_iou", "--ci")
    rows = md_rows(r.stdout)
    assert rows["alpha"][:2] == ["**40.00**", "**37.50 ± 2.00**"]
    assert rows["beta@1a2b3c4d"][:2] == ["38.00", "37.33"]
    assert "| Run / method | mIoU | h-IoU |" in r.stdout


def test_bad_format_is_a_usage_error(cli, two_runs):
    r = cli("--runs-root", two_runs, "--format", "xml")
    assert r.exit_code == 2


# ---------------------------------------------------------------------------------------------------------------------
# Startup speed: no numpy, torch or pandas


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def test_table_does_not_import_numpy(two_runs):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from partbench.cli.main import app\n"
        f"r = CliRunner().invoke(app, ['table', '--runs-root', {str(two_runs)!r}, '--format', 'latex', '--ci'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('numpy', 'torch', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=REPO)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr


def test_table_startup_time(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cmd = [sys.executable, "-m", "partbench", "table", "--no-published", "--runs-root", str(empty)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=tmp_path)
    elapsed = time.perf_counter() - t0
    assert out.returncode == 1, out.stdout + out.stderr
    assert "No results found" in out.stderr
    print(f"partbench table startup: {elapsed:.2f} s")
    assert elapsed < 5.0  # generous: a numpy/torch import would show up in the no-numpy test, not here
