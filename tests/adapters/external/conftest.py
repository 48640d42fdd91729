"""Shared fixtures for the PartCATSeg / LangHOPS adapter tests (`partbench.adapters.external`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from partbench.run import RunRequest, run
from partbench.suites import load_suite

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "external"


def copy_fixture(name: str, dest: Path) -> Path:
    """Copy tests/fixtures/external/`name` (a folder or a file) to `dest`, merging into an existing folder."""
    source = FIXTURES / name
    if source.is_dir():
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
    return dest


@pytest.fixture
def external_fixture():
    """`copy_fixture`, for tests that add a stand-in file to a checkout."""
    return copy_fixture


@pytest.fixture
def demo_samples(demo_root):
    """The demo suite and its loaded val samples."""
    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    return suite, [reader.load(r) for r in reader.index("val").refs]


@pytest.fixture
def run_demo(demo_root):
    """run_demo(method, method_args, **request_fields): one in-process `partbench run` on the demo suite."""

    def _run(method, args, **kw):
        return run(RunRequest(method=method, suite="demo", data_root=demo_root, method_args=args, bootstrap=0,
                              workers=0, **kw))

    return _run


@pytest.fixture
def saved_prediction():
    """saved_prediction(run_dir, sample_id): a run's saved label map for one sample, as int64."""
    from partbench.data.images import read_label_png

    def _saved(run_dir: Path, sample_id: str) -> np.ndarray:
        return read_label_png(run_dir / "predictions" / f"{sample_id}.png").astype(np.int64)

    return _saved


@pytest.fixture
def stand_in_repo(tmp_path) -> Path:
    """A codebase for `driver=fake_codebase:predict` with a checkpoint `model.pth`
    (tests/fixtures/external/stand_in)."""
    return copy_fixture("stand_in", tmp_path / "fake-checkout")
