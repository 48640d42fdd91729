"""Part-editing tables: mask-given methods (registry `uses_gt_mask`) in a block of their own, and the published
user-study preferences (published.yaml `preferences`): their schema checks and where `partbench table` shows them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from table_helpers import PUBLISHED, REPO, md_rows, suite_version, write_result

from partbench.errors import PartbenchError
from partbench.leaderboard.published import load_preferences
from partbench.registry import METHODS

PAPER = REPO.parent / "shared" / "reference" / "papers" / "001_63072fc516c50bff.txt"


def _edit_run(root: Path, name: str, psnr: float, error: float) -> None:
    write_result(root / "demo-edit" / name, suite="demo-edit", suite_version=suite_version("demo-edit"),
                 task="part-editing", convention="region", setting=None,
                 metrics={"edit_error_fg": error, "psnr_bg": psnr, "ssim_bg": 90.0},
                 higher_is_better={"edit_error_fg": False, "psnr_bg": True, "ssim_bg": True})


@pytest.fixture
def edit_runs(tmp_path: Path) -> Path:
    """Two mask-free runs and two sdxl-inpaint runs; an inpainting run has the best PSNR and error overall."""
    root = tmp_path / "runs"
    _edit_run(root, "identity", psnr=100.0, error=60.0)
    _edit_run(root, "image-folder@11112222", psnr=30.0, error=20.0)
    _edit_run(root, "sdxl-inpaint", psnr=35.0, error=5.0)
    _edit_run(root, "sdxl-inpaint@33334444", psnr=32.0, error=8.0)
    return root


def test_mask_given_runs_form_their_own_block(cli, edit_runs):
    md = cli("--runs-root", edit_runs, "--format", "markdown", "--no-published")
    assert md.exit_code == 0, md.output
    rows = md_rows(md.stdout)
    labels = list(rows)
    assert labels == ["identity", "image-folder@11112222", "sdxl-inpaint (GT mask)", "sdxl-inpaint@33334444 (GT mask)"]
    # Best per block: the inpainting error of 5.0 does not take the bold from the mask-free 20.0, nor is it unranked.
    assert rows["image-folder@11112222"][0] == "**20.00**" and rows["identity"][1] == "**100.00**"
    assert rows["sdxl-inpaint (GT mask)"][:2] == ["**5.00**", "**35.00**"]
    assert rows["sdxl-inpaint@33334444 (GT mask)"][:2] == ["8.00", "32.00"]
    assert "(GT mask): the method is given the ground-truth part mask" in md.stdout
    tex = cli("--runs-root", edit_runs, "--format", "latex", "--no-published").stdout
    body = tex.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
    assert body.split(r"\midrule")[0].count(r"\\") == 2 and "sdxl-inpaint (GT mask)" in body.split(r"\midrule")[1]
    records = json.loads(cli("--runs-root", edit_runs, "--format", "json", "--no-published").stdout)
    assert {r["label"]: r["uses_gt_mask"] for r in records} == {
        "identity": False, "image-folder@11112222": False, "sdxl-inpaint": True, "sdxl-inpaint@33334444": True}


def test_the_block_comes_from_the_registry_not_the_name(cli, edit_runs, monkeypatch):
    """The same runs with sdxl-inpaint's registration saying otherwise, and a plugin registered as mask-given."""
    METHODS.load()
    key = ("part-editing", "sdxl-inpaint")
    monkeypatch.setitem(METHODS._entries, key, replace(METHODS._entries[key], uses_gt_mask=False))
    plugin = replace(METHODS._entries[key], name="my-masked-editor", uses_gt_mask=True)
    monkeypatch.setitem(METHODS._entries, ("part-editing", "my-masked-editor"), plugin)
    _edit_run(edit_runs, "my-masked-editor", psnr=31.0, error=9.0)
    rows = md_rows(cli("--runs-root", edit_runs, "--format", "markdown", "--no-published").stdout)
    assert list(rows)[-1] == "my-masked-editor (GT mask)"
    assert "sdxl-inpaint" in rows and rows["sdxl-inpaint"][0] == "**5.00**"  # now ranked with the mask-free runs


def test_published_partedit_preferences_are_the_papers():
    """Hand-copied from the paper's §4.3.1-4.3.2 (and, where the text is here, found in it verbatim)."""
    got = {(p.suite, p.method, p.versus, p.percent, p.responses, p.versus_uses_gt_mask)
           for p in load_preferences(PUBLISHED)}
    assert got == {("partedit-synth", "PartEdit", "P2P", 88.6, 360, False),
                   ("partedit-synth", "PartEdit", "iP2P", 77.0, 360, False),
                   ("partedit-synth", "PartEdit", "MasaCtrl", 73.5, 360, False),
                   ("partedit-synth", "PartEdit", "SDXL inpainting", 75.0, 360, True),
                   ("partedit-synth", "PartEdit", "Latent Blending", 66.0, 360, True)}
    if PAPER.is_file():
        text = PAPER.read_text(encoding="utf-8")
        assert "preferred by the users 88.6 %, 77.0% and 73.5% of the time compared to P2P, iP2P and MasaCtrl" in text
        assert "360 responses per study" in text and "preferred by 75% and 66% of users over the mask-based" in text


@pytest.mark.parametrize(("field", "value", "message"), [
    ("percent", 100.5, r"'percent' must be a number in \[0, 100\]"),
    ("percent", -1, r"'percent' must be a number in \[0, 100\]"),
    ("percent", "88.6%", "'percent' must be a number or null"),
    ("responses", 0, "'responses' must be a positive integer"),
    ("responses", 360.0, "'responses' must be a positive integer"),
    ("responses", True, "'responses' must be a positive integer"),
    ("responses", None, "'responses' must be a positive integer"),
    ("citation", None, "'citation' must be a non-empty string"),
    ("citation", " ", "'citation' must be a non-empty string"),
    ("versus_uses_gt_mask", "yes", "'versus_uses_gt_mask' must be true or false"),
])
def test_preference_rows_are_validated(tmp_path, field, value, message):
    import yaml

    entry = {"suite": "partedit-synth", "method": "A", "versus": "B", "percent": 60, "responses": 10,
             "citation": "a paper"}
    path = tmp_path / "published.yaml"
    path.write_text(yaml.safe_dump({"entries": [], "preferences": [entry]}))
    assert load_preferences(path)[0].percent == 60.0
    path.write_text(yaml.safe_dump({"entries": [], "preferences": [entry | {field: value}]}))
    with pytest.raises(PartbenchError, match=f"preferences entry 1 \\(A vs B\\): {message}"):
        load_preferences(path)


def test_table_shows_the_preferences_under_their_suite(cli, tmp_path, edit_runs):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("--runs-root", empty, "--suite", "partedit-synth", "--format", "json")
    assert r.exit_code == 0, r.output
    prefs = [x for x in json.loads(r.stdout) if x["kind"] == "preference"]
    assert [(x["versus"], x["percent"], x["responses"]) for x in prefs][:2] == [("P2P", 88.6, 360), ("iP2P", 77.0, 360)]
    md = cli("--runs-root", empty, "--suite", "partedit-synth", "--format", "markdown").stdout
    assert "| PartEdit | SDXL inpainting (GT mask) | 75 | 360 | published [p2] |" in md
    assert cli("--runs-root", empty, "--suite", "partedit-synth", "--no-published").exit_code == 1
    # Not under another suite's table.
    assert "User-study preferences" not in cli("--runs-root", edit_runs, "--format", "markdown").stdout
