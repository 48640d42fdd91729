"""The PartConcepts mask decoder's training cost in NCHW vs channels-last memory layout (CPU, tiny preset shapes).

    python benchmarks/partconcepts_decoder_layout.py [--threads 2] [--images 4] [--concepts 11] [--repeat 20]

One forward + backward of `PartMaskDecoder` on a training batch's shapes (the tiny preset: 4 captured layers on a
16x16 token grid, 64-pixel crops, `--images` crops of `--concepts` PartConcepts each), the median of `--repeat`
runs after 3 warm-up runs, both layouts alternating in one process. Also checks that both layouts give the same
logits (to float tolerance). The decoder is most of a tiny training step, so this sets how many steps fit in
`make demo`'s time budget.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--concepts", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()

    import torch

    from partbench.methods.partconcepts.decoder import PartMaskDecoder

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    decoder = PartMaskDecoder(num_maps=4, upsample_stages=2, width=32)
    maps = torch.randn(a.images * a.concepts, 4, 16, 16, requires_grad=True)
    images = torch.rand(a.images, 3, 64, 64) * 2 - 1
    index = torch.arange(a.images).repeat_interleave(a.concepts)

    def step(channels_last: bool) -> float:
        decoder.channels_last = channels_last
        t = time.perf_counter()
        decoder(maps, images, index).square().mean().backward()
        return time.perf_counter() - t

    with torch.no_grad():
        decoder.channels_last = False
        nchw = decoder(maps, images, index)
        decoder.channels_last = True
        same = torch.allclose(nchw, decoder(maps, images, index), atol=1e-4, rtol=1e-4)
    for _ in range(3):
        step(False), step(True)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(a.repeat):
        for layout in (False, True):
            times[layout].append(step(layout))
    print(f"decoder forward + backward, {a.images} images x {a.concepts} PartConcepts, 64 px, {a.threads} threads")
    for layout, label in ((False, "NCHW"), (True, "channels-last")):
        print(f"{label:<14} median {1000 * statistics.median(times[layout]):7.1f} ms   "
              f"min {1000 * min(times[layout]):7.1f} ms")
    print(f"speed-up (median): {statistics.median(times[False]) / statistics.median(times[True]):.2f}x; "
          f"same logits: {same}")


if __name__ == "__main__":
    main()
