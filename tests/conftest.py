from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A data root holding a small demo suite (generated once per test session)."""
    from partbench.data.demo import generate_demo

    root = tmp_path_factory.mktemp("data")
    generate_demo(root / "PartbenchDemo", seed=0, n_train=16, n_val=10)
    return root


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Tests never read the user's data root or plugins, and write runs into their own folder."""
    monkeypatch.delenv("PARTBENCH_PLUGINS", raising=False)
    monkeypatch.setenv("PARTBENCH_DATA", str(tmp_path / "no-data-here"))
    monkeypatch.chdir(tmp_path)
