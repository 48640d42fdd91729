"""flux1-dev and flux2-klein on tiny random pipelines (preset=tiny): end to end on demo-t2i, deterministic, and the
real loading path refuses to download."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.generation import clip_args

from partbench.errors import PartbenchError
from partbench.run import RunRequest, run


@pytest.mark.parametrize("method", ["flux1-dev", "flux2-klein"])
def test_tiny_flux_runs_end_to_end_and_resumes(tmp_path, method):
    args = clip_args(tmp_path / "clip") | {"preset": "tiny", "images_per_prompt": "1", "batch_size": "2"}
    request = RunRequest(method=method, suite="demo-t2i", data_root=tmp_path, output_root=tmp_path / "runs",
                         method_args=args, limit=2, bootstrap=50)
    out = run(request)
    assert out.predicted == 2 and out.results["meaningful"] is False
    assert out.results["method_config"]["preset"] == "tiny"
    from PIL import Image

    first = [np.asarray(Image.open(p)) for p in sorted((out.run_dir / "predictions").rglob("*.png"))]
    assert all(a.shape == (64, 64, 3) and a.std() > 0 for a in first)
    again = run(RunRequest(**(vars(request) | {"force": True})))
    assert again.predicted == 2
    second = [np.asarray(Image.open(p)) for p in sorted((out.run_dir / "predictions").rglob("*.png"))]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)  # same seeds, same images


def test_real_weights_are_looked_up_never_downloaded(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    from adapters.flux_t2i import Flux1Dev, Flux2Klein

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(PartbenchError, match="FLUX.1-dev.*never downloads"):
        Flux1Dev.fingerprint_for(args={})
    with pytest.raises(PartbenchError, match="does not exist"):
        Flux2Klein.fingerprint_for(args={"weights": str(tmp_path / "nope")})
    with pytest.raises(PartbenchError, match="unknown --method-arg"):
        Flux2Klein.fingerprint_for(args={"stepz": "3"})
    assert Flux1Dev.meaningful_for({"preset": "tiny"}) is False and Flux1Dev.meaningful_for({}) is True
