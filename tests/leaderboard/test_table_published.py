"""The published reference numbers: `leaderboards/published.yaml`, installed as `partbench.leaderboards`, and the
published block of `partbench table`."""

from __future__ import annotations

import json

import pytest
import yaml
from table_helpers import PAPER_T1, PUBLISHED, SHARED_REFERENCE, md_rows

import partbench.leaderboard.published as published_module
from partbench.leaderboard import load_published
from partbench.leaderboard.published import published_path


def test_published_path_is_the_repository_file():
    """The package data `partbench.leaderboards` maps to leaderboards/ (pyproject's package-dir)."""
    assert published_path().resolve() == PUBLISHED.resolve()


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
    monkeypatch.setattr(published_module, "published_path", lambda: tmp_path / "nowhere" / "published.yaml")
    r = cli("--runs-root", two_runs, "--published")
    assert r.exit_code == 2 and "published reference numbers not found" in r.output
    r = cli("--runs-root", two_runs, "--format", "markdown")  # default: a note, the measured table still shows
    assert r.exit_code == 0 and "no published numbers" in r.stderr and "alpha" in r.stdout


def test_published_yaml_hand_copied_values():
    rows = load_published(PUBLISHED)
    assert len([r for r in rows if r.suite != "partonomy-core"]) == 44  # Partonomy's: tests/tasks/test_partonomy_cli.py

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
              "t2i-part-prompts", "partonomy-core"}  # fmt: skip
    keys = {"seen_miou", "unseen_miou", "h_iou", "miou", "clip_score", "giou_macro_identification",
            "giou_macro_intersection", "giou_macro_difference"}
    mismatches = []
    for e in raw["entries"]:
        assert e["suite"] in suites, e
        assert set(e["metrics"]) <= keys, e
        assert all(isinstance(v, float) for v in e["metrics"].values()), e
        assert e["citation"] and e["convention"] in ("ovparts", "unknown"), e
        if e["convention"] == "unknown":
            assert e.get("note"), e
        if e["suite"] not in ("t2i-part-prompts", "partonomy-core"):  # partonomy-core: teacher-forced
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
    for r in (r for r in load_published(PUBLISHED) if r.suite != "partonomy-core"):  # not in that collection
        source = "OV-PARTS" if r.citation.startswith("OV-PARTS") else r.citation.rsplit(", ", 1)[1]
        order = triple + ("miou", "clip_score")
        got.add((source, r.method, r.suite, tuple(sorted(r.metrics.items(), key=lambda kv: order.index(kv[0])))))
    assert got == expected
