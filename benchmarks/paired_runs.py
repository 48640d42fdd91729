"""Is run B better than run A on the same samples? A paired bootstrap over samples of B minus A, per metric.

    python benchmarks/paired_runs.py RUN_A RUN_B [RUN_B2 ...] [--metrics h_iou,lr_confusion] [--replicates 2000]

The computation is `partbench compare`'s (`partbench.analysis.paired.compare_runs`); this script prints it as one
markdown table for the notes in docs/ and README.md. Each RUN is a `partbench run` output directory of the same
suite, split and suite version. Every B is compared with A. Columns per metric: B's value, B minus A in points with
its 95 % interval, and the two-sided bootstrap p-value, raw and Holm-adjusted over all tests when there are several
(as the command does). The resampling is paired (one draw of samples, both runs scored on it), so what the runs share
cancels; separate per-run intervals, as `partbench table` shows, overlap much more than the difference's interval
does.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    from partbench.analysis.paired import compare_runs
    from partbench.analysis.runs import load_run

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path, nargs="+")
    ap.add_argument("--metrics", default="h_iou,lr_confusion")
    ap.add_argument("--replicates", type=int, default=2000)
    ap.add_argument("--convention", default="ovparts")
    a = ap.parse_args()
    metrics = a.metrics.split(",")
    runs = [load_run(p) for p in [a.run_a, *a.run_b]]
    result = compare_runs(runs, metrics, a.convention, n_replicates=a.replicates)
    first = result.comparisons[0].diffs
    print(f"A = {a.run_a} ({result.suite}/{result.split}, {result.n_samples} samples, "
          f"{a.replicates} paired replicates): " + ", ".join(f"{d.metric} {d.value_a:.2f}" for d in first))
    holm = " | p (Holm)" if result.holm else ""
    print("| run B | " + " | ".join(f"{m} | B − A [95 % CI] | p{holm}" for m in metrics) + " |")
    print("|---|" + ("---|---|---|---|" if holm else "---|---|---|") * len(metrics))
    for path, c in zip(a.run_b, result.comparisons):
        cells = []
        for d in c.diffs:
            ci = "—" if d.ci95 is None else f"[{d.ci95[0]:+.2f}, {d.ci95[1]:+.2f}]"
            ps = [d.p_value] + ([d.p_value_holm] if result.holm else [])
            cells += [f"{d.value_b:.2f}", f"{d.difference:+.2f} {ci}", *("—" if p is None else f"{p:.3f}" for p in ps)]
        print(f"| {path} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
