"""The study page in a real headless browser (Debian's chromium via Playwright): served over loopback HTTP, every
item answered, the answers downloaded and fed to `analyze`; a prompt containing markup renders as text; the
completion code the page derives equals Python's (crypto.subtle and the page's own SHA-256); arrow keys answer; no
focus or hover highlight carries over to the next pair."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest
from helpers.generation import MARKUP_PROMPT, study_runs

from partbench.userstudy.analyze import Thresholds, analyze, load_key, read_answers
from partbench.userstudy.completion import completion_code
from partbench.userstudy.export import DEFAULT_SUBMIT_TEXT, ExportOptions, export_pack

CHROMIUM = os.environ.get("PARTBENCH_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason=f"chromium not found at {CHROMIUM} (apt-get install chromium)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self):
        _QuietHandler.requests.append(self.path)
        return super().do_GET()


@contextlib.contextmanager
def _served(out: Path):
    """`out/pack` over loopback HTTP; yields (out, url)."""
    handler = functools.partial(_QuietHandler, directory=str(out / "pack"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served_pack(tmp_path, monkeypatch):
    runs = study_runs(tmp_path, monkeypatch)
    out = tmp_path / "study"
    export_pack(ExportOptions(runs=runs, out=out, items=6, gold=2, seed=3))
    with _served(out) as served:
        yield served


def _wait_for_images(page, timeout_s: float = 10.0, ids: tuple[str, ...] = ("img-left", "img-right")) -> None:
    """The current item's images loaded (polled with evaluate: the page's CSP forbids wait_for_function's eval)."""
    import time

    check = f"{list(ids)}.every(id => document.getElementById(id).complete && " \
            "document.getElementById(id).naturalWidth > 0)"
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(check):
        assert time.monotonic() < deadline, "the item's images did not load"
        page.wait_for_timeout(20)


def test_answer_every_item_in_a_real_browser_and_analyze(served_pack, tmp_path):
    from playwright.sync_api import sync_playwright

    out, url = served_pack
    key = load_key(out)
    items = {i["item_id"]: i for i in key["items"]}
    by_prompt_order = [i["item_id"] for i in key["items"]]
    sides = {i["item_id"]: i["gold_answer"] if i["kind"] == "gold" else
             "left" if i["left"] == key["reference"] else "right" for i in key["items"]}  # prefers the reference
    expected_code = completion_code(key["completion_salt"], key["pack_id"], "rater-1",
                                    [(i, sides[i]) for i in by_prompt_order])
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "blob:", "data:")) else None)
        page.goto(url + "?PROLIFIC_PID=rater-1&STUDY_ID=s1&SESSION_ID=x1")
        assert page.locator("#pid-row").is_hidden()  # the participant id came from the URL
        assert expected_code not in page.content()  # no code to read before the study is done
        page.click("#start")
        markup_seen = False
        for n, item_id in enumerate(by_prompt_order):
            item = items[item_id]
            assert page.inner_text("#progress") == f"Pair {n + 1} of {len(items)}"
            shown = page.inner_text("#prompt")
            assert shown == item["prompt"]  # markup included, as text
            if item["prompt"] == MARKUP_PROMPT:
                markup_seen = True
                assert page.locator("#prompt b").count() == 0 and page.locator("#prompt img").count() == 0
            _wait_for_images(page)
            page.wait_for_timeout(5)
            page.click(f"#choose-{sides[item_id]}")
        assert markup_seen
        assert page.evaluate("window.__pwned === undefined")
        page.wait_for_selector("#completion-code", state="visible")
        assert page.inner_text("#completion-code") == expected_code  # crypto.subtle's SHA-256 = hashlib's
        assert page.get_attribute("#completion-link", "href").endswith("?cc=" + expected_code)
        assert " ".join(page.inner_text("#submit-text").split()) == DEFAULT_SUBMIT_TEXT
        with page.expect_download() as download:
            page.click("#download")
        answers = tmp_path / download.value.suggested_filename
        download.value.save_as(answers)
        browser.close()
    assert outside == []  # the page made no request outside the pack's server
    assert answers.name == f"answers-{key['pack_id']}-rater-1.json"

    result = analyze(key, read_answers([answers], key), Thresholds(min_gold_accuracy=1.0, min_median_rt_ms=0))
    assert result["n_raters_kept"] == 1
    assert result["completion_codes"]["verified"] == [{"rater": "rater-1", "file": str(answers), "code": expected_code}]
    for row in result["baselines"]:
        assert row["preference"] == 1.0 and row["n_votes"] == 6
    assert result["repeat_consistency"] == {"consistent": 1, "n_raters": 1, "rate": 1.0}
    import json

    doc = json.loads(answers.read_text())
    assert doc["study_id"] == "s1" and doc["session_id"] == "x1" and doc["time_on_page_ms"] > 0
    assert doc["completion_code"] == expected_code
    assert all(a["rt_ms"] >= 0 for a in doc["answers"]) and len(doc["answers"]) == len(items)


GREY, BLUE = "rgb(204, 204, 204)", "rgb(21, 101, 192)"  # .pair button borders: resting, highlighted
BORDERS = "['choose-left', 'choose-right'].map(id => getComputedStyle(document.getElementById(id)).borderTopColor)"


def test_arrow_keys_answer_and_no_highlight_carries_to_the_next_pair(served_pack, tmp_path):
    """Half the pairs answered by click, half by ← →; after each answer the next pair starts with no focused element
    and neither side highlighted, although the pointer still rests on the side just clicked. crypto.subtle is
    removed (as on a plain-http page), so the code comes from the page's own SHA-256."""
    from playwright.sync_api import sync_playwright

    out, url = served_pack
    key = load_key(out)
    ids = [i["item_id"] for i in key["items"]]
    wanted = {item_id: ("left", "right")[n % 3 == 1] for n, item_id in enumerate(ids)}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(accept_downloads=True)
        context.add_init_script("Object.defineProperty(Crypto.prototype, 'subtle', {get() { return undefined; }})")
        page = context.new_page()
        page.goto(url + "?PROLIFIC_PID=keys-1")
        assert page.evaluate("window.crypto.subtle === undefined")
        page.keyboard.press("ArrowLeft")  # before the study starts: answers nothing
        page.click("#start")
        can_hover = page.evaluate("matchMedia('(hover: hover)').matches")
        clicked = None  # the side clicked for the previous pair: where the pointer still rests
        for n, item_id in enumerate(ids):
            assert page.inner_text("#progress") == f"Pair {n + 1} of {len(ids)}"
            _wait_for_images(page)
            if n:  # the pair just shown: nothing focused, nothing highlighted
                assert page.evaluate("document.activeElement === document.body")
                assert page.evaluate(BORDERS) == [GREY, GREY]
            if clicked and can_hover:  # ... and the check can fail: a real pointer movement does highlight
                box = page.locator(f"#choose-{clicked}").bounding_box()
                page.mouse.move(box["x"] + box["width"] / 2 + 15, box["y"] + box["height"] / 2 + 15, steps=3)
                assert page.evaluate(BORDERS)[clicked == "right"] == BLUE
            side = wanted[item_id]
            if n % 2 == 0:
                page.click(f"#choose-{side}")
                clicked = side
            else:
                page.keyboard.press("Shift+ArrowRight")  # a browser shortcut, not an answer
                key_name = "ArrowLeft" if side == "left" else "ArrowRight"
                page.keyboard.down(key_name)
                page.keyboard.down(key_name)  # auto-repeat of a held key: one answer only
                page.keyboard.up(key_name)
                clicked = None
        page.wait_for_selector("#completion-code", state="visible")
        shown = page.inner_text("#completion-code")
        with page.expect_download() as download:
            page.click("#download")
        answers = tmp_path / download.value.suggested_filename
        download.value.save_as(answers)
        browser.close()
    import json

    doc = json.loads(answers.read_text())
    assert [(a["item_id"], a["choice"]) for a in doc["answers"]] == list(wanted.items())
    assert shown == doc["completion_code"] == completion_code(key["completion_salt"], key["pack_id"], "keys-1",
                                                              wanted.items())
    result = analyze(key, read_answers([answers], key), Thresholds(min_gold_accuracy=0, min_median_rt_ms=0))
    assert result["dropped"]["code_mismatch"]["n"] == 0 and len(result["completion_codes"]["verified"]) == 1


def test_page_sha256_fallback_matches_hashlib():
    """The page's own SHA-256 (used where crypto.subtle is missing) on inputs around the padding boundaries."""
    import hashlib
    from importlib.resources import files

    from playwright.sync_api import sync_playwright

    template = files("partbench.userstudy").joinpath("templates/study.html.j2").read_text(encoding="utf-8")
    source = template.split("// sha256-fallback:begin")[1].split("// sha256-fallback:end")[0]
    inputs = ["", "abc", "é → ☃ 🐄", *("x" * n for n in (55, 56, 57, 63, 64, 65, 119, 120, 1000))]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page()
        page.goto("about:blank")
        got = page.evaluate("([src, inputs]) => { const f = new Function(src + '\\nreturn sha256Fallback;')();"
                            " return inputs.map(s => f(new TextEncoder().encode(s))); }", [source, inputs])
        browser.close()
    assert got == [hashlib.sha256(s.encode("utf-8")).hexdigest() for s in inputs]


@pytest.fixture
def served_edit_pack(tmp_path):
    """An A/B pack of two part-editing runs on a small demo-edit: oracle (the reference) against identity."""
    from partbench.data.demo import generate_demo
    from partbench.data.demo_edit import generate_demo_edit
    from partbench.run import RunRequest, run

    root = tmp_path / "data"
    generate_demo(root / "PartbenchDemo", seed=0, n_train=2, n_val=3)
    generate_demo_edit(root, seed=0, n_images=3)
    runs = [run(RunRequest(method=m, suite="demo-edit", data_root=root, output_root=tmp_path / "runs",
                           bootstrap=0)).run_dir for m in ("oracle", "identity")]
    out = tmp_path / "edit-study"
    export_pack(ExportOptions(runs=runs, out=out, gold=1, seed=1, data_root=root))
    with _served(out) as served:
        yield served + (root,)


def test_edit_pack_shows_source_part_and_instruction_in_a_real_browser(served_edit_pack, tmp_path):
    """Every item shows the source both edits were made from (the pack's copy of the suite's source, pixel for
    pixel), the part and the instruction, under PartEdit's question; the answers analyse as for generation."""
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from partbench.suites import load_suite
    from partbench.userstudy.edit_runs import EDIT_QUESTION

    out, url, root = served_edit_pack
    key = load_key(out)
    assert key["task"] == "part-editing" and key["question"] == EDIT_QUESTION
    reader = load_suite("demo-edit").make_reader(root)
    records = {r.sample_id: r for r in reader.records("val")}
    ids = [i["item_id"] for i in key["items"]]
    sides = {i["item_id"]: i["gold_answer"] if i["kind"] == "gold" else
             "left" if i["left"] == key["reference"] else "right" for i in key["items"]}
    for item in key["items"]:  # the pack's source image is the sample's source
        record = records[item["prompt_id"]]
        shown = np.asarray(Image.open(out / "pack" / "images" / f"{item['item_id']}-0.png").convert("RGB"))
        assert np.array_equal(shown, np.asarray(Image.open(reader.root / record.files["image"]).convert("RGB")))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.goto(url + "?PROLIFIC_PID=editor-1")
        assert "pairs of edits" in page.inner_text("#intro")
        page.click("#start")
        assert page.inner_text("#question") == EDIT_QUESTION
        for n, item_id in enumerate(ids):
            item = next(i for i in key["items"] if i["item_id"] == item_id)
            record = records[item["prompt_id"]]
            assert page.inner_text("#progress") == f"Pair {n + 1} of {len(ids)}"
            assert page.inner_text("#prompt") == record.instructions[0] == item["prompt"]
            assert page.inner_text("#part") == record.part
            _wait_for_images(page, ids=("img-source", "img-left", "img-right"))
            assert page.get_attribute("#img-source", "src") == f"images/{item_id}-0.png"
            page.click(f"#choose-{sides[item_id]}")
        page.wait_for_selector("#completion-code", state="visible")
        with page.expect_download() as download:
            page.click("#download")
        answers = tmp_path / download.value.suggested_filename
        download.value.save_as(answers)
        browser.close()
    result = analyze(key, read_answers([answers], key), Thresholds(min_gold_accuracy=1.0, min_median_rt_ms=0))
    assert result["n_raters_kept"] == 1 and len(result["completion_codes"]["verified"]) == 1
    (row,) = result["baselines"]
    assert row["baseline"] == "identity" and row["preference"] == 1.0
    assert row["n_votes"] == sum(i["kind"] == "real" for i in key["items"])
