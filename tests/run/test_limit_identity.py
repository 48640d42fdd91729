"""What a run is called and what it reports when `--limit` or an executor is involved: a limit that leaves no sample
out is the complete run, a limited run counts only what it skipped itself, and a job array merges the folder its
shards wrote (whatever made its name, incomplete data included)."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pytest
from helpers.cli import invoke

RUN = ("run", "-m", "random", "-s", "demo", "--bootstrap", "0")


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def test_a_limit_above_the_split_size_is_the_complete_run(demo_root):
    big = invoke(*RUN, "--data-root", demo_root, "--limit", "100000")
    assert big.exit_code == 0, big.output
    assert [p.name for p in Path("runs/demo").iterdir()] == ["random"]  # the full run's folder, not random@<hash>
    doc = _results(Path("runs/demo/random"))
    assert doc["limit"] is None and doc["run_name"] == "random" and "covers every sample" in big.output
    # The same run: one without --limit predicts nothing again and the table marks nothing partial.
    full = invoke(*RUN, "--data-root", demo_root)
    assert full.exit_code == 0 and "predicted 0" in full.output, full.output
    assert [p.name for p in Path("runs/demo").iterdir()] == ["random"]
    table = invoke("table", "runs", "--suite", "demo", "--no-published", "--format", "markdown")
    assert table.exit_code == 0 and "(partial)" not in table.output, table.output


def test_a_limited_run_reports_only_what_it_skipped(demo_root):
    full = invoke(*RUN, "--data-root", demo_root)
    assert full.exit_code == 0, full.output
    split_wide = _results(Path("runs/demo/random"))["n_skipped"]["no_part_classes"]
    assert split_wide > 0 and f"skipped: {split_wide} no part classes" in full.output
    limited = invoke(*RUN, "--data-root", demo_root, "--limit", "3")
    assert limited.exit_code == 0, limited.output
    (run_dir,) = Path("runs/demo").glob("random@*")
    doc = _results(run_dir)
    assert doc["n_samples"] == 3 and doc["limit"] == 3
    # Objects without part classes are counted while listing the whole split; none of them is among 3 samples.
    assert "no_part_classes" not in doc["n_skipped"] and "no part classes" not in limited.output


class _Job:
    def __init__(self, fn, arg, k: int):
        self.job_id, self._fn, self._arg = str(k), fn, arg

    def result(self):
        return self._fn(self._arg)


class _Executor:
    """submitit's executor interface, running each array task in this process when its result is asked for."""

    def __init__(self, folder, cluster=None):
        pass

    def update_parameters(self, **_):
        pass

    def map_array(self, fn, args):
        return [_Job(fn, arg, k) for k, arg in enumerate(args)]


def test_a_job_array_merges_the_folder_its_shards_wrote(demo_root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", types.SimpleNamespace(AutoExecutor=_Executor,
                                                                       LocalExecutor=_Executor))
    data = tmp_path / "data"
    shutil.copytree(demo_root, data)
    (data / "PartbenchDemo/annotations_detectron2_part/val/demo_val_0003.png").unlink()
    args = (*RUN, "--data-root", data, "--allow-incomplete-data")
    arrayed = invoke(*args, "--executor", "local", "--shards", "2")
    assert arrayed.exit_code == 0, arrayed.output
    (run_dir,) = Path("runs/demo").glob("random@*")  # incomplete data: a folder of its own
    assert _results(run_dir)["data"]["complete"] is False
    single = invoke(*args, "--output", "one")
    assert single.exit_code == 0, single.output
    one = _results(Path("one/demo") / run_dir.name)
    assert _results(run_dir)["metrics"] == pytest.approx(one["metrics"])
