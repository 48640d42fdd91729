"""`select_device`: the one rule every `device=` option follows."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from partbench.devices import select_device  # noqa: E402
from partbench.errors import PartbenchError  # noqa: E402
from partbench.scale.parallel import default_device  # noqa: E402


def test_auto_is_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device() == select_device("auto") == default_device() == "cpu"


def test_auto_is_this_process_gpu_with_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert select_device("auto") == default_device() == "cuda:0"
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert select_device("auto") == default_device() == "cuda:3"
    assert select_device("cuda:1") == "cuda:1"  # explicit choices are kept


def test_an_explicit_gpu_without_one_is_refused_with_the_option_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:1"):
        with pytest.raises(PartbenchError, match=f"--method-arg device={name} asks for a GPU"):
            select_device(name)
    with pytest.raises(PartbenchError, match="--method-arg clip_device=cuda"):
        select_device("cuda", arg="clip_device")
    assert select_device("cpu") == "cpu"
    assert select_device("mps") == "mps"  # not ours to judge: torch reports it
