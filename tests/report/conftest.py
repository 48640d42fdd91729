from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_runs(demo_root, tmp_path_factory) -> Path:
    """Runs of the small demo suite: random, spatial-prior, and the oracle over 5 samples (smoke and partial)."""
    from partbench.run import RunRequest, run

    out = tmp_path_factory.mktemp("report-runs")
    for method, limit in (("random", None), ("spatial-prior", None), ("oracle", 5)):
        run(RunRequest(method=method, suite="demo", data_root=demo_root, output_root=out, limit=limit,
                       bootstrap=50, workers=0))
    return out


@pytest.fixture
def runs_copy(demo_runs, tmp_path) -> Path:
    """A copy the test may edit."""
    target = tmp_path / "runs"
    shutil.copytree(demo_runs, target)
    return target


@pytest.fixture(scope="session")
def demo_report(demo_runs, demo_root, tmp_path_factory) -> Path:
    """The report of `demo_runs`, built once for the tests that only read it."""
    from helpers.cli import invoke

    out = tmp_path_factory.mktemp("report") / "report"
    result = invoke("report", demo_runs, "--output", out, "--data-root", demo_root, "--no-published", *GALLERY)
    assert result.exit_code == 0, result.output
    return out


GALLERY = ("--gallery", "6", "--worst", "2")  # a short gallery: the tests need a few rows of each kind, not 24
