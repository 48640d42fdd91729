"""Images/s of the model adapters on their tiny random presets, CPU: a regression guard, not a claim about real models.

    .venv/bin/python benchmarks/adapters_speed.py [--samples 24] [--repeat 3]

Generates a demo split in a temp dir, builds each adapter once (not timed), then times `predict` over the first N
val samples in batches of 8 (best of --repeat). For partcatseg the timed path is the subprocess runner with the
shipped worker and a stand-in codebase returning constant scores (protocol + PNG round trip, no model).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

STAND_IN = """
import numpy as np
def predict(image_rgb, object_class, classes, checkpoint, config, device):
    h, w = image_rgb.shape[:2]
    return -np.arange(len(classes), dtype=np.float32)[:, None, None] * np.ones((1, h, w), np.float32)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    a = parser.parse_args()

    import torch

    from partbench.api.types import Vocabulary
    from partbench.data.demo import generate_demo
    from partbench.registry import get_method
    from partbench.suites import load_suite

    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp())
    generate_demo(tmp / "PartbenchDemo", seed=0, n_train=4, n_val=max(a.samples, 8))
    suite = load_suite("demo")
    reader = suite.make_reader(tmp)
    samples = [reader.load(r) for r in reader.index("val").refs[: a.samples]]
    for s in samples:
        _ = s.image  # decode outside the timed region
    vocab = Vocabulary.from_suite(suite)
    repo = tmp / "stand-in"
    repo.mkdir()
    (repo / "stand_in.py").write_text(STAND_IN)
    configs = [
        ("clipseg", {"preset": "tiny", "device": "cpu"}),
        ("conceptattention", {"preset": "tiny", "device": "cpu"}),
        ("conceptattention", {"preset": "tiny", "device": "cpu", "sigmas": "0.25,0.5,0.75", "draws": "2"}),
        ("partcatseg", {"repo": str(repo), "python": sys.executable, "driver": "stand_in:predict"}),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(samples)} demo samples "
          f"(~{samples[0].size[1]}x{samples[0].size[0]}), best of {a.repeat}")
    print("| adapter | args | seconds | samples/s |")
    print("|---|---|---|---|")
    for name, args in configs:
        method = get_method(name).build(suite=suite, data_root=tmp, args=args, seed=0)
        method.predict(samples[:1], vocab)  # warm-up (and worker start for the runner)
        best = float("inf")
        for _ in range(a.repeat):
            start = time.perf_counter()
            for i in range(0, len(samples), 8):
                method.predict(samples[i:i + 8], vocab)
            best = min(best, time.perf_counter() - start)
        shown = " ".join(f"{k}={v}" for k, v in args.items() if k not in ("repo", "python", "device"))
        print(f"| {name} | {shown} | {best:.3f} | {len(samples) / best:.1f} |")
        if hasattr(method, "close"):
            method.close()


if __name__ == "__main__":
    main()
