"""The study page in a real headless browser (Debian's chromium via Playwright): served over loopback HTTP, every
item answered, the answers downloaded and fed to `analyze`; a prompt containing markup renders as text."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest
from helpers.generation import MARKUP_PROMPT, study_runs

from partbench.userstudy.analyze import Thresholds, analyze, load_key, read_answers
from partbench.userstudy.export import ExportOptions, export_pack

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


@pytest.fixture
def served_pack(tmp_path, monkeypatch):
    runs = study_runs(tmp_path, monkeypatch)
    out = tmp_path / "study"
    export_pack(ExportOptions(runs=runs, out=out, items=6, gold=2, seed=3, completion_code="C0MPLETE"))
    handler = functools.partial(_QuietHandler, directory=str(out / "pack"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _wait_for_images(page, timeout_s: float = 10.0) -> None:
    """Both images of the current item loaded (polled with evaluate: the page's CSP forbids wait_for_function's
    eval)."""
    import time

    check = "['img-left', 'img-right'].every(id => document.getElementById(id).complete && " \
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
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "blob:", "data:")) else None)
        page.goto(url + "?PROLIFIC_PID=rater-1&STUDY_ID=s1&SESSION_ID=x1")
        assert page.locator("#pid-row").is_hidden()  # the participant id came from the URL
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
            if item["kind"] == "gold":
                side = item["gold_answer"]
            else:
                side = "left" if item["left"] == key["reference"] else "right"  # this rater prefers the reference
            page.wait_for_timeout(5)
            page.click(f"#choose-{side}")
        assert markup_seen
        assert page.evaluate("window.__pwned === undefined")
        assert page.inner_text("#completion-code") == "C0MPLETE"
        with page.expect_download() as download:
            page.click("#download")
        answers = tmp_path / download.value.suggested_filename
        download.value.save_as(answers)
        browser.close()
    assert outside == []  # the page made no request outside the pack's server
    assert answers.name == f"answers-{key['pack_id']}-rater-1.json"

    result = analyze(key, read_answers([answers], key), Thresholds(min_gold_accuracy=1.0, min_median_rt_ms=0))
    assert result["n_raters_kept"] == 1
    for row in result["baselines"]:
        assert row["preference"] == 1.0 and row["n_votes"] == 6
    assert result["repeat_consistency"] == {"consistent": 1, "n_raters": 1, "rate": 1.0}
    import json

    doc = json.loads(answers.read_text())
    assert doc["study_id"] == "s1" and doc["session_id"] == "x1" and doc["time_on_page_ms"] > 0
    assert all(a["rt_ms"] >= 0 for a in doc["answers"]) and len(doc["answers"]) == len(items)
