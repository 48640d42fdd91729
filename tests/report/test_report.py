"""`partbench report`: the page renders in a real headless Chromium (every picture loads, no console error, no request
outside the report's folder), carries the table's marks, is deterministic, and replaces only its own files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers.cli import invoke

from partbench.suites import load_suite

# As in tests/userstudy/test_browser.py: Debian's chromium through Playwright.
CHROMIUM = os.environ.get("PARTBENCH_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def _report(runs: Path, out: Path, data_root: Path, *extra) -> str:
    gallery = ("--gallery", "6", "--worst", "2")  # as the `demo_report` fixture (conftest.GALLERY)
    result = invoke("report", runs, "--output", out, "--data-root", data_root, "--no-published", *gallery, *extra)
    assert result.exit_code == 0, result.output
    return result.output


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"chromium not found at {CHROMIUM} (apt-get install chromium)")
def test_the_report_renders_in_a_real_browser(demo_report, tmp_path):
    from playwright.sync_api import sync_playwright

    out = demo_report
    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(out.as_uri()) else None)
        page.goto((out / "index.html").as_uri())
        page.click("text=Demo")  # the index links to the suite's page
        assert page.url.endswith("/demo.html")
        page.screenshot(path=str(tmp_path / "top.png"))
        for image in page.query_selector_all("img"):  # lazy images load when they come into view
            image.scroll_into_view_if_needed()
        page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=10_000)
        images = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
        text = page.inner_text("body")
        browser.close()
    assert problems == [] and outside == []
    assert len(images) > 10 and [src for src, width in images if width == 0] == []
    sections = ("Leaderboard", "Per-class IoU", "Largest differences between runs", "Part confusion per object",
                "Left / right", "Gallery")
    assert all(s in text for s in sections), [s for s in sections if s not in text]
    assert "14 samples" in text  # the full runs' samples, not the --limit 5 oracle's
    assert "(smoke)" in text and "(partial)" in text and "runs disagree" in text and "worst of random" in text
    assert (tmp_path / "top.png").stat().st_size > 20_000  # looked at while writing this test: the leaderboard


def test_the_same_runs_give_the_same_files_and_a_rewrite_replaces_only_its_own(demo_report, demo_runs, demo_root,
                                                                                tmp_path):
    again = tmp_path / "again"
    _report(demo_runs, again, demo_root)
    assert _tree(again) == _tree(demo_report)
    mine = again / "notes.txt"
    mine.write_text("the user's own file")
    # Rewritten without the data: the gallery is skipped with a note, its images go, the rest of the page stays.
    printed = _report(demo_runs, again, tmp_path / "no-data-here")
    assert "gallery skipped" in printed
    after = _tree(again)
    assert "notes.txt" in after and not any("/gallery/" in name for name in after)
    assert "Part confusion per object" in after["demo.html"].decode() and b'id="gallery"' not in after["demo.html"]
    listed = json.loads((again / "report-files.json").read_text())["files"]
    assert set(listed) == set(after) - {"notes.txt", "report-files.json"}


def _edit(run: Path, **changes) -> None:
    path = run / "results.json"
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        doc[key] = (doc.get("data") or {}) | value if key == "data" else value
    path.write_text(json.dumps(doc))


def test_the_report_carries_the_tables_marks(runs_copy, demo_root, tmp_path):
    suite = runs_copy / "demo"
    for name in ("resized", "incomplete", "elsewhere", "old"):
        shutil.copytree(suite / "random", suite / name)
    _edit(suite / "resized", run_name="resized", gt_resize="512,2048")
    _edit(suite / "incomplete", run_name="incomplete", data={"complete": False})
    _edit(suite / "elsewhere", run_name="elsewhere", data={"fingerprint": "0" * 64})
    _edit(suite / "old", run_name="old", suite_version="0")
    for rows in suite.glob("*/samples.jsonl"):  # the marks are the leaderboard's: no need for the analyses' time
        rows.unlink()
    out = tmp_path / "report"
    printed = _report(runs_copy, out, demo_root)
    page = (out / "demo.html").read_text()
    for mark in ("(smoke)", "(partial)", "(gt 512,2048)", "(incomplete data)", "(other data)", "(stale)"):
        assert mark in page, mark
    assert "re-run: suite changed from v0 to v" + load_suite("demo").version in printed  # stale: leaderboard only
    assert "analyses skipped" in printed and "samples.jsonl: not found" in " ".join(printed.split())


def test_no_runs_is_a_clear_error(tmp_path):
    result = invoke("report", "--runs-root", tmp_path / "empty", "--output", tmp_path / "r")
    assert result.exit_code == 2 and "no results under" in result.output and "Traceback" not in result.output


def test_show_and_figure(demo_runs, demo_root, tmp_path):
    runs = [demo_runs / "demo" / "random", demo_runs / "demo" / "spatial-prior"]
    ids = sorted(p.stem for p in runs[0].glob("predictions/*.png"))[:2]
    shown = invoke("show", runs[1], ids[0], "--data-root", demo_root, "-o", tmp_path / "one.png")
    assert shown.exit_code == 0, shown.output
    assert (tmp_path / "one.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("a.pdf", "b.pdf", "c.svg"):
        made = invoke("figure", *runs, "--samples", ",".join(ids), "--data-root", demo_root, "-o", tmp_path / name)
        assert made.exit_code == 0, made.output
    pdf = (tmp_path / "a.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf == (tmp_path / "b.pdf").read_bytes()  # deterministic
    assert b"/FontFile2" in pdf  # TrueType embedded: the titles and legend are text, not pixels
    svg = (tmp_path / "c.svg").read_text()
    assert all(f">{text}</text>" in svg for text in ("ground truth", "random", "spatial-prior", ids[0]))
    wrong = invoke("show", runs[1], ids[0][:-1], "--data-root", demo_root)
    assert wrong.exit_code == 2 and f"Did you mean '{ids[0]}'" in wrong.output
    bad = invoke("figure", *runs, "--samples", ids[0], "--data-root", demo_root, "-o", tmp_path / "fig.jpg")
    assert bad.exit_code == 2 and "must end in .png, .pdf, .svg" in bad.output


def test_show_and_figure_warn_of_a_run_made_on_other_data(demo_runs, demo_root, tmp_path):
    run = tmp_path / "random"
    shutil.copytree(demo_runs / "demo" / "random", run)
    sample = sorted(p.stem for p in run.glob("predictions/*.png"))[0]
    same = tmp_path / "same-data"
    shutil.copytree(demo_root, same)
    for root in (demo_root, same):  # the run's own data, and a copy of it elsewhere: the same content
        quiet = invoke("show", run, sample, "--data-root", root, "-o", tmp_path / "quiet.png")
        assert quiet.exit_code == 0 and "warning" not in quiet.output, quiet.output
    edited = tmp_path / "edited-data"
    shutil.copytree(demo_root, edited)
    image = edited / "PartbenchDemo/images/val" / f"{sample.split('__')[0]}.jpg"
    image.write_bytes(image.read_bytes() + b"\0")  # other bytes, the same picture
    shown = invoke("show", run, sample, "--data-root", edited, "-o", tmp_path / "one.png")
    assert shown.exit_code == 0, shown.output
    said = " ".join(shown.output.split())
    assert "warning: random was made on other data" in said and sample in said
    (run / "inputs.json").unlink()  # a run that kept only its data fingerprint: compared over the whole split
    made = invoke("figure", run, "--samples", sample, "--data-root", edited, "-o", tmp_path / "fig.png")
    assert made.exit_code == 0 and "random was made on other data" in " ".join(made.output.split()), made.output
    quiet = invoke("figure", run, "--samples", sample, "--data-root", demo_root, "-o", tmp_path / "fig.png")
    assert quiet.exit_code == 0 and "warning" not in quiet.output, quiet.output


def test_a_generation_suite_shows_images_per_prompt_and_the_user_study(tmp_path, monkeypatch):
    from helpers.generation import study_runs

    from partbench.userstudy.analyze import load_key

    runs = study_runs(tmp_path, monkeypatch, n_runs=2)
    study = tmp_path / "study"
    assert invoke("userstudy", "export", *[a for r in runs for a in ("--run", r)], "--out", study,
                  "--items", "3").exit_code == 0
    key = load_key(study)
    answers = tmp_path / "answers.csv"
    answers.write_text("worker_id,item_id,choice,rt_ms\n" + "".join(
        f"{w},{i['item_id']},{'left' if n % 2 else 'right'},1500\n" for n, w in enumerate("abc")
        for i in key["items"]))
    analyzed = invoke("userstudy", "analyze", "--pack", study, "--responses", answers, "--min-gold-accuracy", "0",
                      "--bootstrap", "50")
    assert analyzed.exit_code == 0, analyzed.output
    out = tmp_path / "report"
    made = invoke("report", *runs, "--output", out, "--userstudy", study, "--prompts", "3")
    assert made.exit_code == 0, made.output
    page = next(p for p in sorted(out.glob("*.html")) if p.name != "index.html")
    html = page.read_text()
    assert "Images per prompt" in html and "CLIP " in html and "User study:" in html
    assert "&lt;b&gt;head&lt;/b&gt;" in html and "<b>head</b>" not in html  # a prompt's markup shows as text
    assert len(list(out.glob("*/prompts/*.png"))) == 3 * 2  # 3 prompts x 2 runs x 1 image
    assert (out / "userstudy" / "0-preferences.png").is_file()
