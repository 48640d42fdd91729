"""Images/s of the input pipeline (sample loading + image decoding), with and without loader threads.

    python benchmarks/input_pipeline.py [--images 300] [--infer-ms 0,5] [--repeat 3]

Loads every val sample of a generated demo split the way `partbench run` does (reader.load + image decode,
through `partbench.data.prefetch`), optionally with a simulated inference step per sample (sleep, which releases
the GIL like a GPU forward does), and prints samples/s for 0 (inline), 1, 2 and 4 loader threads.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def throughput(data_root: Path, workers: int, infer_ms: float) -> tuple[float, int]:
    from partbench.data.prefetch import prefetch
    from partbench.suites import load_suite

    reader = load_suite("demo").make_reader(data_root)
    refs = reader.index("val").refs

    def load(ref):
        sample = reader.load(ref)
        sample.image  # noqa: B018 - decode, as the loader threads do for methods that read images
        return sample

    start = time.perf_counter()
    n = 0
    for _ in prefetch(refs, load, workers=workers, depth=16):
        if infer_ms:
            time.sleep(infer_ms / 1000)
        n += 1
    return n / (time.perf_counter() - start), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--infer-ms", default="0,5", help="simulated inference per sample, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from partbench.data.demo import generate_demo

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_demo(root / "PartbenchDemo", seed=0, n_train=4, n_val=args.images)
        table = Table(title=f"Input pipeline, demo val ({args.images} images), best of {args.repeat}")
        for col in ("simulated inference", "loader threads", "samples", "samples/s", "vs inline"):
            table.add_column(col, justify="right")
        for infer_ms in (float(x) for x in args.infer_ms.split(",")):
            inline = None
            for workers in (0, 1, 2, 4):
                rate, n = max(throughput(root, workers, infer_ms) for _ in range(args.repeat))
                inline = inline or rate
                table.add_row(f"{infer_ms:g} ms/sample", str(workers) if workers else "0 (inline)", str(n),
                              f"{rate:.1f}", f"{rate / inline:.2f}x")
        Console().print(table)


if __name__ == "__main__":
    main()
