"""Seconds to build a `pascal-part` split's sample index from nothing (every .mat parsed), one process against
forked index workers, alternating in one run; the two indexes must be equal.

    python benchmarks/index_build.py [--images 2000] [--workers 2] [--repeat 3]

The data is `rerun_speed.py`'s: VOC-size images, each with a .mat in the official struct layout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rerun_speed import write_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    from partbench.data.index_cache import _index_units
    from partbench.suites import load_suite

    suite = load_suite("pascal-part")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_dataset(root, a.images, 375, 500)
        reader = suite.make_reader(root)
        keys = [key for key, _ in reader.index_units("val")[1]]
        times: dict[int, list[float]] = {1: [], a.workers: []}
        results = {}
        for _ in range(a.repeat):
            for workers in times:
                start = time.perf_counter()
                results[workers] = _index_units(suite.make_reader(root), "val", keys, workers=workers)
                times[workers].append(time.perf_counter() - start)
        assert results[1] == results[a.workers], "parallel index differs from the serial one"
    serial, parallel = statistics.median(times[1]), statistics.median(times[a.workers])
    print(f"{len(keys)} .mat files, median of {a.repeat}")
    print(f"1 process: {serial:.2f} s   {a.workers} workers: {parallel:.2f} s   speed-up {serial / parallel:.2f}x")


if __name__ == "__main__":
    main()
