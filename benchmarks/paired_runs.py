"""Is run B better than run A on the same samples? A paired bootstrap over samples of B minus A, per metric.

    python benchmarks/paired_runs.py RUN_A RUN_B [RUN_B2 ...] [--metrics h_iou,lr_confusion] [--replicates 2000]

Each RUN is a `partbench run` output directory of the same suite, split and suite version (it reads config.json and
samples.jsonl, the per-sample confusion counts the scorer wrote). Every B is compared with A. Columns per metric:
B's value, B minus A in points with its 95 % interval, and the two-sided bootstrap p-value. The resampling is
paired (one draw of samples, both runs scored on it), so what the runs share cancels; separate per-run intervals,
as `partbench table` shows, overlap much more than the difference's interval does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_scorer(run_dir: Path):
    from partbench.errors import PartbenchError
    from partbench.metrics.partseg import ClassSpace, PartSegScorer, SampleScore
    from partbench.suites import load_suite

    try:
        config = json.loads((run_dir / "config.json").read_text())
        rows = (run_dir / "samples.jsonl").read_text().splitlines()
    except OSError as e:
        raise PartbenchError(f"{run_dir}: not a finished partbench run ({e}).") from None
    suite = load_suite(config["suite"])
    if config.get("suite_version") != suite.version:
        raise PartbenchError(f"{run_dir}: scored on {suite.name} v{config.get('suite_version')}, "
                             f"the registered suite is v{suite.version}; re-run it.")
    scorer = PartSegScorer(ClassSpace.from_suite(suite))
    for line in rows:
        scorer.add(SampleScore.from_json(json.loads(line)))
    return scorer, config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path, nargs="+")
    ap.add_argument("--metrics", default="h_iou,lr_confusion")
    ap.add_argument("--replicates", type=int, default=2000)
    ap.add_argument("--convention", default="ovparts")
    a = ap.parse_args()
    metrics = a.metrics.split(",")
    base, base_config = load_scorer(a.run_a)
    point_a = base.compute(a.convention, n_replicates=0)["metrics"]
    print(f"A = {a.run_a} ({base_config['suite']}/{base_config['split']}, {len(base.samples)} samples, "
          f"{a.replicates} paired replicates): " + ", ".join(f"{m} {point_a[m]:.2f}" for m in metrics))
    print("| run B | " + " | ".join(f"{m} | B − A [95 % CI] | p" for m in metrics) + " |")
    print("|---|" + "---|---|---|" * len(metrics))
    for run_b in a.run_b:
        other, config = load_scorer(run_b)
        if (config["suite"], config["split"]) != (base_config["suite"], base_config["split"]):
            raise SystemExit(f"{run_b}: another suite or split than {a.run_a}")
        point_b = other.compute(a.convention, n_replicates=0)["metrics"]
        diff = base.compare(other, a.convention, n_replicates=a.replicates)
        cells = []
        for m in metrics:
            d = diff[m]
            ci = "—" if d["ci95"] is None else f"[{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"
            cells += [f"{point_b[m]:.2f}", f"{d['difference']:+.2f} {ci}", f"{d['p_value']:.3f}"]
        print(f"| {run_b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
