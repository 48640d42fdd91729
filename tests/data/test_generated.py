"""The embedded demo suite just works: `partbench run --suite demo` generates the data on first use (with a progress
bar), a partial folder is refused with the command that regenerates it, and the library never generates silently
(so tests and callers that point at a missing folder still get "data not found")."""

from __future__ import annotations

import functools

import pytest
from helpers.cli import invoke

import partbench.data.demo as demo
from partbench.errors import DataNotFoundError
from partbench.run import RunRequest, run


@pytest.fixture
def small_demo(monkeypatch):
    """The real generator, drawing 2 train and 3 val images instead of 240 and 120 (seconds, not a minute)."""
    monkeypatch.setattr(demo, "generate_demo", functools.partial(demo.generate_demo, n_train=2, n_val=3))


def test_run_generates_the_demo_on_first_use(tmp_path, small_demo):
    root = tmp_path / "fresh"
    result = invoke("run", "-m", "random", "-s", "demo", "--data-root", root, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    assert "first use, generating its data" in result.output and "partbench data generate demo" in result.output
    assert demo.demo_is_complete(root / "PartbenchDemo")
    assert (tmp_path / "runs/demo/random/results.json").is_file()
    again = invoke("run", "-m", "random", "-s", "demo", "--data-root", root, "--bootstrap", "0")
    assert again.exit_code == 0 and "generating" not in again.output  # once only


def test_score_generates_too(tmp_path, small_demo, monkeypatch):
    monkeypatch.setenv("PARTBENCH_DATA", str(tmp_path / "env-root"))  # the default root: no --data-root in the hint
    preds = tmp_path / "preds"
    preds.mkdir()
    result = invoke("score", "-s", "demo", "-p", preds, "--bootstrap", "0", "--allow-missing")
    assert "first use, generating its data" in result.output, result.output
    assert demo.demo_is_complete(tmp_path / "env-root" / "PartbenchDemo")


def test_a_partial_folder_is_refused_with_the_command_that_regenerates_it(tmp_path):
    folder = tmp_path / "root" / "PartbenchDemo" / "images" / "val"
    folder.mkdir(parents=True)
    (folder / "demo_val_0000.jpg").write_bytes(b"half a generation")
    result = invoke("run", "-m", "random", "-s", "demo", "--data-root", tmp_path / "root")
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "incomplete (no manifest.json" in text
    assert f"`partbench data generate demo --data-root {tmp_path / 'root'}`" in text


def test_shards_do_not_generate_and_the_library_never_does(tmp_path):
    result = invoke("run", "-m", "random", "-s", "demo", "--data-root", tmp_path / "r", "--shard", "0/2")
    assert result.exit_code == 2 and "cannot generate it together" in " ".join(result.output.split())
    assert not (tmp_path / "r").exists()
    with pytest.raises(DataNotFoundError):
        run(RunRequest(method="random", suite="demo", data_root=tmp_path / "lib", output_root=tmp_path / "runs"))
    assert not (tmp_path / "lib").exists()
