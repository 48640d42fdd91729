"""A run never overwrites a different run: `--limit` gets its own folder (marked partial in tables), impossible
numbers are refused before anything is written, and two prediction sources never share one import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import invoke
from helpers.exports import detectron2_entries, oracle_maps


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def finished(demo_root) -> Path:
    """A finished full run of `random` on the demo suite, under ./runs."""
    result = invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    return Path("runs/demo/random")


def test_a_limited_run_has_its_own_folder_and_is_marked_partial(demo_root, finished):
    before = _files(finished)
    limited = invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0",
                     "--limit", "4")
    assert limited.exit_code == 0, limited.output
    assert _files(finished) == before
    (other,) = [p for p in Path("runs/demo").iterdir() if p != finished]
    assert json.loads((other / "results.json").read_text())["n_samples"] == 4
    table = invoke("table", "runs", "--suite", "demo", "--no-published", "--format", "markdown")
    assert table.exit_code == 0
    rows = [line for line in table.output.splitlines() if line.startswith("|") and "random" in line]
    assert len(rows) == 2 and sum("(partial)" in r for r in rows) == 1
    assert "only the first 4 samples" in table.output


@pytest.mark.parametrize("option", [("--batch-size", "0"), ("--seed", "-1"), ("--bootstrap", "-1"),
                                    ("--workers", "-1"), ("--limit", "0")])
def test_impossible_numbers_are_refused_before_anything_is_written(demo_root, finished, option):
    before = _files(Path("runs"))
    result = invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, *option)
    assert result.exit_code == 2 and f"{option[0]} must be at least" in result.output
    assert _files(Path("runs")) == before


@pytest.mark.parametrize("grid", ["0", "-4", "100000"])
def test_method_arguments_out_of_range_are_refused_before_anything_is_written(demo_root, grid):
    result = invoke("run", "-m", "spatial-prior", "-s", "demo", "--data-root", demo_root, "-a", f"grid={grid}")
    assert result.exit_code == 2 and "grid must lie in [1, 256]" in result.output
    assert not Path("runs").exists()


def test_two_prediction_sources_never_share_one_import(demo_root, tmp_path):
    first, second = tmp_path / "team-a" / "preds", tmp_path / "team-b" / "preds"
    oracle_maps(demo_root, first)
    oracle_maps(demo_root, second)
    args = ("-s", "demo", "--data-root", demo_root, "--bootstrap", "0")
    assert invoke("score", "-p", first, *args).exit_code == 0
    results = Path("runs/demo/imported-preds/results.json")
    before = results.read_bytes()
    again = invoke("score", "-p", first, *args)  # the same source: re-scored in place
    assert again.exit_code == 0
    other = invoke("score", "-p", second, *args)
    assert other.exit_code == 2 and "--name" in other.output and str(first) in other.output
    assert json.loads(results.read_text())["predictions"] == json.loads(before)["predictions"]
    assert invoke("score", "-p", second, *args, "--name", "team-b").exit_code == 0
    assert invoke("score", "-p", second, *args, "--force").exit_code == 0
    assert json.loads(results.read_text())["predictions"] == str(second.resolve())


def test_json_predictions_are_named_after_their_file(demo_root, tmp_path):
    entries = detectron2_entries(demo_root, uncompressed=False)
    for name in ("a.json", "b.json"):
        (tmp_path / "exports").mkdir(exist_ok=True)
        (tmp_path / "exports" / name).write_text(json.dumps(entries))
        result = invoke("score", "-s", "demo", "-p", tmp_path / "exports" / name, "--data-root", demo_root,
                        "--bootstrap", "0")
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in Path("runs/demo").iterdir()) == ["imported-a", "imported-b"]


def test_a_kill_between_rows_and_results_leaves_no_stale_number(demo_root, finished, monkeypatch, tmp_path):
    """Killed after the new per-sample rows are in place but before results.json is written, a run or a score leaves
    no results.json at all rather than the old one beside rows it was not computed from."""
    import partbench.run.loop as loop
    from partbench.run import RunRequest, ScoreRequest, run, score

    def killed(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "results_document", killed)
    with pytest.raises(KeyboardInterrupt):
        run(RunRequest(method="random", suite="demo", data_root=demo_root, force=True, bootstrap=0))
    assert (finished / "samples.jsonl").is_file() and not (finished / "results.json").exists()

    results = tmp_path / "imported" / "results.json"
    results.parent.mkdir()
    results.write_text("{}")
    with pytest.raises(KeyboardInterrupt):
        score(ScoreRequest(suite="demo", data_root=demo_root, predictions=finished / "predictions", name="x",
                           samples_path=results.with_name("samples.jsonl"), bootstrap=0, results_path=results))
    assert results.with_name("samples.jsonl").is_file() and not results.exists()


def test_a_second_run_into_a_folder_being_written_is_refused(demo_root):
    from partbench.store.run_dir import RunDir

    first = invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0")
    assert first.exit_code == 0, first.output
    busy = RunDir(Path("runs/demo/random"), {})
    with busy.lock():  # another run holds it
        second = invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0")
    assert second.exit_code == 2 and "being written by another partbench run" in second.output
    assert "Traceback" not in second.output
    assert invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0").exit_code == 0


def test_a_refused_run_leaves_no_folder(demo_root, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(Path("hf-empty").resolve()))
    refused = invoke("run", "-m", "clipseg", "-s", "demo", "--data-root", demo_root, "--limit", "2")
    assert refused.exit_code == 2, refused.output
    assert not Path("runs").exists() or not any(Path("runs").rglob("predictions"))


def test_score_with_a_ground_truth_round_trip_never_replaces_the_native_import(demo_root, finished):
    preds = finished / "predictions"
    native = invoke("score", "-s", "demo", "-p", preds, "--data-root", demo_root, "--bootstrap", "0")
    resized = invoke("score", "-s", "demo", "-p", preds, "--data-root", demo_root, "--bootstrap", "0",
                     "--gt-resize", "64, 96")
    assert native.exit_code == 0 and resized.exit_code == 0, resized.output
    plain = json.loads(Path("runs/demo/imported-random/results.json").read_text())
    trip = json.loads(Path("runs/demo/imported-random@gt64x96/results.json").read_text())
    assert "gt_resize" not in plain and trip["gt_resize"] == "64,96"
    out = Path("scored.json")
    assert invoke("score", "-s", "demo", "-p", preds, "--data-root", demo_root, "--bootstrap", "0",
                  "-o", out).exit_code == 0
    clash = invoke("score", "-s", "demo", "-p", preds, "--data-root", demo_root, "--bootstrap", "0", "-o", out,
                   "--gt-resize", "64,96")
    assert clash.exit_code == 2 and "native ground truth" in clash.output


def test_partial_runs_do_not_vote_on_the_tables_data(demo_root):
    for method, limit in (("random", None), ("oracle", "3"), ("spatial-prior", "3")):
        args = ["run", "-m", method, "-s", "demo", "--data-root", demo_root, "--bootstrap", "0"]
        assert invoke(*args, *(["--limit", limit] if limit else [])).exit_code == 0
    table = invoke("table", "runs", "--suite", "demo", "--no-published", "--format", "markdown")
    assert table.exit_code == 0 and "(other data)" not in table.output


def test_an_interrupted_command_says_how_to_resume_and_exits_130(demo_root, monkeypatch):
    from helpers.cli import invoke

    import partbench.run.loop as loop

    def interrupted(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "results_document", interrupted)
    result = invoke("run", "--method", "random", "--suite", "demo", "--data-root", demo_root, "--bootstrap", 0,
                    "--force")
    assert result.exit_code == 130
    assert "interrupted" in result.output and "run the same command again to resume" in result.output
