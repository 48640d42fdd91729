"""Where a run's left/right errors are: per object class and mirrored pair, what the ground-truth pixels of the pair
were predicted as (the correct side, the mirror side, or anything else), split by the way the object faces.

    python benchmarks/lr_breakdown.py RUN_DIR [RUN_DIR ...] [--data-root DIR] [--split val]

RUN_DIR is a `partbench run` output directory of the demo suite (it reads `samples.jsonl`, the per-sample confusion
counts the scorer wrote, and the generator's `meta/<split>.json` for each object's facing). Columns:

- `mirror %`: ground-truth pixels of the pair predicted as the mirror part. Pooled over pairs this is the suite's
  `lr_confusion`; it counts a pixel labelled 'torso' as no confusion, so a method that rarely predicts a limb at
  all scores low on it.
- `side err %`: mirror / (mirror + correct side), i.e. of the pair's pixels that got *one of the two* sides, the
  share that got the wrong one: how well the method tells the sides apart when it finds the part. 50 is a coin flip.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def facing_of(meta: dict, sample_id: str) -> str:
    image_id, _, cls = sample_id.partition("__")
    facings = {o["facing"] for o in meta[image_id]["objects"] if o["class"] == cls}
    return facings.pop() if len(facings) == 1 else "mixed"


def confusion_by_facing(run_dir: Path, meta: dict, num_classes: int) -> dict[str, np.ndarray]:
    """The run's (C+1) x C confusion counts (`conf[pred, gt]`, as the scorer keeps them), summed per facing."""
    out: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((num_classes + 1, num_classes), dtype=np.int64))
    with (run_dir / "samples.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            entries = np.asarray(row["conf"], dtype=np.int64).reshape(-1, 3)
            np.add.at(out[facing_of(meta, row["id"])], (entries[:, 0], entries[:, 1]), entries[:, 2])
    return out


def breakdown(run_dir: Path, meta: dict, classes: list[str], pairs: np.ndarray) -> dict:
    """{(object, pair ('left/right wheel'), facing): [gt, correct side, mirror]} over the run's samples; the mirror
    counts are the scorer's own (`metrics.leftright.pair_counts`)."""
    from partbench.metrics.leftright import pair_counts
    from partbench.suites import object_of, part_of

    out = {}
    for facing, conf in confusion_by_facing(run_dir, meta, len(classes)).items():
        mirror, gt = pair_counts(conf, pairs)
        correct = conf[pairs[:, 0], pairs[:, 0]] + conf[pairs[:, 1], pairs[:, 1]]
        for k, (a, _) in enumerate(pairs):
            if gt[k]:
                pair = part_of(classes[a]).replace("left", "left/right", 1)
                out[(object_of(classes[a]), pair, facing)] = np.array([gt[k], correct[k], mirror[k]])
    return out


def main() -> None:
    from partbench.data.root import resolve_data_root
    from partbench.suites import load_suite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    suite = load_suite("demo")
    meta_path = resolve_data_root(args.data_root) / suite.dataset_dir / "meta" / f"{args.split}.json"
    meta = json.loads(meta_path.read_text())
    classes, pairs = list(suite.classes), np.asarray(suite.mirrored_pairs, dtype=np.int64)
    tables = {run: breakdown(run, meta, classes, pairs) for run in args.runs}
    keys = sorted(set().union(*tables.values()))
    zero = np.zeros(3, dtype=np.int64)
    header = "| object | pair | facing | gt px | " + " | ".join(f"{r.parent.name}/{r.name} mirror % | side err %"
                                                                 for r in args.runs) + " |"
    print(header)
    print("|" + "---|" * (4 + 2 * len(args.runs)))
    totals = {run: np.zeros(3, dtype=np.int64) for run in args.runs}
    for key in keys:
        cells = [*key, str(tables[args.runs[0]].get(key, zero)[0])]
        for run in args.runs:
            gt, correct, mirror = tables[run].get(key, zero)
            totals[run] += (gt, correct, mirror)
            cells += [f"{100 * mirror / max(gt, 1):.1f}", f"{100 * mirror / max(correct + mirror, 1):.1f}"]
        print("| " + " | ".join(cells) + " |")
    cells = ["all", "", "", str(totals[args.runs[0]][0])]
    for run in args.runs:
        gt, correct, mirror = totals[run]
        cells += [f"{100 * mirror / max(gt, 1):.1f}", f"{100 * mirror / max(correct + mirror, 1):.1f}"]
    print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
