"""A run killed with SIGKILL at any point and re-run gives byte-identical metrics to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PLUGIN = '''
import time

from partbench.adapters.trivial import RandomParts
from partbench.registry import MethodInfo, register_method


class SlowRandom(RandomParts):
    """The random baseline, slowed down so that a test can kill it mid-run."""

    def predict(self, samples, vocabulary):
        time.sleep(0.04 * len(samples))
        return super().predict(samples, vocabulary)


register_method(MethodInfo(name="slow-random", factory="slow_plugin:SlowRandom"))
'''

COMPARED = ("metrics", "ci95", "by_convention", "per_class", "lr_pairs", "n_samples")


def _command(data_root: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "partbench", "run", "--method", "slow-random", "--suite", "demo",
            "--data-root", str(data_root), "--output", str(output), "--batch-size", "1", "--bootstrap", "200"]


def _env(plugin_dir: Path) -> dict[str, str]:
    return os.environ | {"PARTBENCH_PLUGINS": "slow_plugin",
                         "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow
def test_sigkill_at_any_point_then_resume_is_identical(demo_root, tmp_path):
    (tmp_path / "slow_plugin.py").write_text(PLUGIN)
    env = _env(tmp_path)

    reference = tmp_path / "reference"
    subprocess.run(_command(demo_root, reference), env=env, check=True, capture_output=True)
    expected = json.loads((reference / "demo/slow-random/results.json").read_text())

    resumed = tmp_path / "resumed"
    predictions = resumed / "demo/slow-random/predictions"
    kills = 0
    for target in (1, 4, 7):  # kill after this many finished predictions (and, by timing, sometimes mid-write)
        proc = subprocess.Popen(_command(demo_root, resumed), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if predictions.is_dir() and len(list(predictions.glob("*.png"))) >= target:
                break
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills == 3, "the run finished before it could be interrupted; slow the plugin down"
    assert not (resumed / "demo/slow-random/results.json").exists()

    done = subprocess.run(_command(demo_root, resumed), env=env, check=True, capture_output=True, text=True)
    reused = int(done.stderr.split("reused ")[1].split()[0])
    assert reused >= 7, done.stderr
    got = json.loads((resumed / "demo/slow-random/results.json").read_text())
    for key in COMPARED:
        assert json.dumps(got[key], sort_keys=True) == json.dumps(expected[key], sort_keys=True), key
    assert not list(predictions.glob(".*.tmp"))
