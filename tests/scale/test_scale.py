"""Whatever the launch — 1 process, 2 processes (torchrun, gloo), N shards + merge, a submitit array — the results
are identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from partbench.cli.main import app
from partbench.data.prefetch import prefetch
from partbench.errors import PartbenchError
from partbench.run import RunRequest, run
from partbench.scale.parallel import ProcessGroup, Shard, my_positions

COMPARED = ("metrics", "ci95", "by_convention", "per_class", "lr_pairs", "n_samples", "n_skipped")
runner = CliRunner()


def _same(a: dict, b: dict) -> None:
    for key in COMPARED:
        assert json.dumps(a[key], sort_keys=True) == json.dumps(b[key], sort_keys=True), key


def _single(demo_root: Path, out: Path, method: str = "random") -> dict:
    return run(RunRequest(method=method, suite="demo", data_root=demo_root, output_root=out, bootstrap=100)).results


def _torchrun(*args: str, processes: int = 2) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
           "-m", "partbench", *args]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


def test_shard_parsing_and_positions():
    assert Shard.parse("2/4") == Shard(2, 4) and Shard.parse(None) == Shard(0, 1)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(PartbenchError, match="K/N"):
            Shard.parse(bad)
    # shards and ranks compose into a partition of the positions
    for batch in (1, 4):
        parts = [my_positions(23, Shard(k, 3), ProcessGroup(rank=r, world_size=2), batch)
                 for k in range(3) for r in range(2)]
        assert sorted(p for part in parts for p in part) == list(range(23))
    # whole batches travel together: batch [4..7] belongs to one process
    assert my_positions(10, Shard(0, 1), ProcessGroup(rank=1, world_size=2), 4) == [4, 5, 6, 7]


def test_prefetch_keeps_order_bounds_lookahead_and_surfaces_errors():
    started = []
    lock = threading.Lock()

    def load(i: int) -> int:
        with lock:
            started.append(i)
        time.sleep(0.001 * (i % 3))
        if i == 7:
            raise ValueError("bad sample 7")
        return i * i

    out = []
    with pytest.raises(ValueError, match="bad sample 7"):
        for value in prefetch(range(20), load, workers=3, depth=4):
            out.append(value)
            assert len(started) <= len(out) + 4 + 1  # never more than `depth` items ahead of the consumer
    assert out == [i * i for i in range(7)]
    assert list(prefetch(range(5), lambda i: -i, workers=0)) == [0, -1, -2, -3, -4]


@pytest.mark.slow
def test_two_processes_equal_one(demo_root, tmp_path):
    single = _single(demo_root, tmp_path / "one")
    _torchrun("run", "-m", "random", "-s", "demo", "--data-root", str(demo_root), "--output", str(tmp_path / "two"),
              "--bootstrap", "100")
    two = json.loads((tmp_path / "two/demo/random/results.json").read_text())
    _same(single, two)
    assert (tmp_path / "one/demo/random/samples.jsonl").read_bytes() == \
        (tmp_path / "two/demo/random/samples.jsonl").read_bytes()
    # predictions were split between the processes, none missing
    assert len(list((tmp_path / "two/demo/random/predictions").glob("*.png"))) == single["n_samples"]

    # the same holds for `partbench score` of a saved-prediction directory
    preds = tmp_path / "one/demo/random/predictions"
    _torchrun("score", "-s", "demo", "-p", str(preds), "--data-root", str(demo_root), "--bootstrap", "100",
              "--output", str(tmp_path / "scored-2.json"))
    scored = json.loads((tmp_path / "scored-2.json").read_text())
    assert scored["metrics"] == single["metrics"] and scored["ci95"] == single["ci95"]


def test_shards_then_merge_equal_one_run(demo_root, tmp_path):
    single = _single(demo_root, tmp_path / "one", method="spatial-prior")
    base = ("run", "-m", "spatial-prior", "-s", "demo", "--data-root", demo_root, "--output", tmp_path / "sh",
            "--bootstrap", "100")
    run_dir = tmp_path / "sh/demo/spatial-prior"
    for k in (2, 0):
        result = runner.invoke(app, [str(a) for a in (*base, "--shard", f"{k}/3")])
        assert result.exit_code == 0, result.output
        assert "partbench merge" in result.output
    assert not (run_dir / "results.json").exists()
    early = runner.invoke(app, ["merge", str(run_dir)])
    assert early.exit_code == 2 and "1/3" in early.output and "missing" in early.output

    assert runner.invoke(app, [str(a) for a in (*base, "--shard", "1/3")]).exit_code == 0
    merged = runner.invoke(app, ["merge", str(run_dir), "--bootstrap", "100"])
    assert merged.exit_code == 0, merged.output
    _same(single, json.loads((run_dir / "results.json").read_text()))

    meta = run_dir / "shards/1-of-3.json"
    doc = json.loads(meta.read_text())
    doc["n_refs"] += 1
    meta.write_text(json.dumps(doc))
    mismatch = runner.invoke(app, ["merge", str(run_dir)])
    assert mismatch.exit_code == 2 and "n_refs" in mismatch.output


@pytest.mark.slow
def test_submitit_local_array_equals_one_run(demo_root, tmp_path):
    single = _single(demo_root, tmp_path / "one")
    result = runner.invoke(app, ["run", "-m", "random", "-s", "demo", "--data-root", str(demo_root), "--output",
                                 str(tmp_path / "ex"), "--bootstrap", "100", "--executor", "local", "--shards", "2"])
    assert result.exit_code == 0, result.output
    _same(single, json.loads((tmp_path / "ex/demo/random/results.json").read_text()))


@pytest.mark.slow
def test_generation_two_processes_equal_one(tmp_path):
    """The same images and scores whether one process or two make them: batches are assigned whole, so each batch
    holds the same prompts in both launches (the tiny pipeline's numerics depend on batch composition)."""
    from helpers.generation import clip_args

    args = {"preset": "tiny"} | clip_args(tmp_path / "clip")
    flags = [x for k, v in args.items() for x in ("-a", f"{k}={v}")]
    for processes in (1, 2):
        _torchrun("run", "-m", "flux2-klein", "-s", "demo-t2i", *flags, "--output", str(tmp_path / f"p{processes}"),
                  "--bootstrap", "100", "--batch-size", "2", processes=processes)
    one_dir, two_dir = (next((tmp_path / f"p{n}" / "demo-t2i").iterdir()) for n in (1, 2))
    assert (one_dir / "samples.jsonl").read_bytes() == (two_dir / "samples.jsonl").read_bytes()
    for image in (one_dir / "predictions").rglob("*.png"):
        assert _pixels(image) == _pixels(two_dir / image.relative_to(one_dir))
    _same_generation = ("metrics", "ci95", "n_samples")
    one, two = (json.loads((d / "results.json").read_text()) for d in (one_dir, two_dir))
    assert all(one[k] == two[k] for k in _same_generation)


def _pixels(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB").tobytes()


@pytest.mark.slow
def test_generation_shards_then_merge_equal_one_run(tmp_path):
    from helpers.generation import clip_args

    args = {"preset": "tiny"} | clip_args(tmp_path / "clip")
    flags = [x for k, v in args.items() for x in ("-a", f"{k}={v}")]

    def invoke(output: str, *extra: str):
        result = runner.invoke(app, ["run", "-m", "flux2-klein", "-s", "demo-t2i", *flags, "--output",
                                     str(tmp_path / output), "--bootstrap", "100", "--batch-size", "2", *extra])
        assert result.exit_code == 0, result.output
        return result

    invoke("one")
    for k in (1, 0):
        assert "partbench merge" in invoke("sharded", "--shard", f"{k}/2").output
    sharded = next((tmp_path / "sharded" / "demo-t2i").iterdir())
    assert not (sharded / "results.json").exists()
    merged = runner.invoke(app, ["merge", str(sharded), "--bootstrap", "100"])
    assert merged.exit_code == 0, merged.output
    single = next((tmp_path / "one" / "demo-t2i").iterdir())
    assert (single / "samples.jsonl").read_bytes() == (sharded / "samples.jsonl").read_bytes()
    one, two = (json.loads((d / "results.json").read_text()) for d in (single, sharded))
    for key in ("metrics", "ci95", "n_samples", "n_images", "clip_variants"):
        assert one[key] == two[key], key


@pytest.mark.slow
def test_accelerate_launch_equals_one_run(demo_root, tmp_path):
    single = _single(demo_root, tmp_path / "one")
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--num_processes", "2", "--cpu", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "partbench", "run", "-m", "random", "-s", "demo", "--data-root",
           str(demo_root), "--output", str(tmp_path / "acc"), "--bootstrap", "100"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    _same(single, json.loads((tmp_path / "acc/demo/random/results.json").read_text()))
