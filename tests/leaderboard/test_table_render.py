"""`partbench table` formats (markdown, latex, csv, json, rich), best cells, missing values and run markers."""

from __future__ import annotations

import csv
import io
import json
import re

from table_helpers import PAPER_T1, UNREGISTERED, md_rows, suite_version, write_result

from partbench.leaderboard import build_tables, find_result_files, load_published, load_rows, render_rich

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

    rows = load_rows(find_result_files(None, two_runs))
    tables = build_tables(rows, load_published())
    console = Console(record=True, width=200, force_terminal=True, color_system="standard", file=io.StringIO())
    for renderable in render_rich(tables, ci=True):
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
