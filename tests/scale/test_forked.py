"""Forked scoring processes: the split's rows come back whole and in order (results identical: see
tests/tasks/test_score_identical.py), a child's failure is the parent's error, and no child outlives the scoring."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest
from helpers import scoring_fixture as fx
from helpers.cli import invoke

from partbench.errors import PartbenchError
from partbench.run import ScoreRequest, score
from partbench.scale import forked
from partbench.scale.forked import processes_for, run_forked
from partbench.scale.parallel import ProcessGroup


def _score(tmp_path, processes: int, samples_name: str = "samples.jsonl") -> dict:
    return score(ScoreRequest(suite="pascal-part-116", data_root=tmp_path / "data",
                              predictions=tmp_path / "data" / "predictions", name="fx",
                              samples_path=tmp_path / samples_name, allow_missing=True, bootstrap=0,
                              processes=processes))


@pytest.fixture
def split(tmp_path, monkeypatch):
    monkeypatch.setattr("partbench.run.loop.SCORE_BATCH", 2)  # every process gets samples of the 14
    predictions = fx.build(tmp_path / "data")
    assert predictions == tmp_path / "data" / "predictions"
    return tmp_path


def test_a_childs_bad_prediction_is_the_parents_error_and_nothing_is_written(split):
    _score(split, processes=1, samples_name="one.jsonl")
    rows = [json.loads(line) for line in (split / "one.jsonl").read_text().splitlines()]
    # Batches of 2 positions are dealt round robin: positions 2-3 go to process 1 of 3, a child.
    image_id = next(r["id"] for r in rows if r["index"] in (2, 3)).split("__")[0]
    bad = split / "data" / "predictions" / f"{image_id}.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(PartbenchError, match=bad.name):
        _score(split, processes=3)
    assert not (split / "samples.jsonl").exists()
    assert multiprocessing.active_children() == []


def test_a_child_killed_before_reporting_is_named(monkeypatch):
    def body(group: ProcessGroup):
        if not group.is_main:
            os._exit(1)  # as the out-of-memory killer would
        return group.gather("rank 0's rows")

    with pytest.raises(PartbenchError, match="scoring process 1 of 2 ended without its results"):
        run_forked(2, body)
    assert multiprocessing.active_children() == []


def test_children_are_stopped_when_the_parent_fails_first():
    def body(group: ProcessGroup):
        if group.is_main:
            raise PartbenchError("rank 0 failed")
        import time

        time.sleep(60)  # would hold the test for a minute if the parent waited for it

    with pytest.raises(PartbenchError, match="rank 0 failed"):
        run_forked(3, body)
    assert multiprocessing.active_children() == []


def test_a_childs_bug_reaches_the_parent_with_its_traceback():
    def body(group: ProcessGroup):
        if group.rank == 1:
            {}["missing key"]
        return group.gather(group.rank)

    with pytest.raises(RuntimeError, match=r"(?s)scoring process 1 of 2 failed:.*KeyError: 'missing key'"):
        run_forked(2, body)


def test_gather_is_in_rank_order():
    assert run_forked(4, lambda group: group.gather(group.rank * 10)) == [0, 10, 20, 30]


def test_default_process_count(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert processes_for(None, 10_000) == 4
    assert processes_for(None, 2 * forked.MIN_SAMPLES_PER_PROCESS) == 2  # small splits are not worth forking for
    assert processes_for(None, 10) == 1
    assert processes_for(3, 10) == 3  # asked for: given
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun already splits the work
    assert processes_for(None, 10_000) == processes_for(4, 10_000) == 1


def test_processes_must_be_positive(split, monkeypatch):
    monkeypatch.chdir(split)
    result = invoke("score", "-s", "pascal-part-116", "-p", split / "data" / "predictions", "--data-root",
                    split / "data", "--processes", "0", "--allow-missing")
    assert result.exit_code == 2 and "--processes must be at least 1, got 0" in result.output


def test_an_interrupted_child_interrupts_the_parent():
    def body(group: ProcessGroup):
        if group.rank == 1:
            raise KeyboardInterrupt  # Ctrl-C reaches every process of the terminal's group
        return group.gather(group.rank)

    with pytest.raises(KeyboardInterrupt):
        run_forked(2, body)
    assert multiprocessing.active_children() == []


def test_the_progress_bar_counts_every_processs_samples(split, monkeypatch):
    """The parent's bar counts the children's samples too (they report through their pipes), so it ends at the
    whole split, not at the parent's share."""
    import partbench.console

    bars = []
    original = partbench.console.progress_bar

    def recorded(*args, **kwargs):
        bars.append(original(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(partbench.console, "progress_bar", recorded)
    def scoring_task():
        (task,) = [t for bar in bars for t in bar.tasks if t.description.startswith("scoring")][-1:]
        return task

    _score(split, processes=1, samples_name="one.jsonl")
    whole = scoring_task().total  # the split: 13 samples, of which the parent of 3 processes scores 5
    _score(split, processes=3)
    task = scoring_task()
    assert task.total == task.completed == whole == 13 and "(3 processes)" in task.description
