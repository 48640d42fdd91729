"""Where a run's left/right errors are: per object class and mirrored pair, what the ground-truth pixels of the pair
were predicted as (the correct side, the mirror side, or anything else), split by the way the object faces.

    python benchmarks/lr_breakdown.py RUN_DIR [RUN_DIR ...] [--data-root DIR] [--split val]

RUN_DIR is a `partbench run` output directory of the demo suite (it reads `samples.jsonl`, the per-sample confusion
counts the scorer wrote, and the generator's `meta/<split>.json` for each object's facing). The counting is
`partbench.analysis.leftright`'s, which `partbench report` shows too. Columns:

- `mirror %`: ground-truth pixels of the pair predicted as the mirror part. Pooled over pairs this is the suite's
  `lr_confusion`; it counts a pixel labelled 'torso' as no confusion, so a method that rarely predicts a limb at
  all scores low on it.
- `side err %`: mirror / (mirror + correct side), i.e. of the pair's pixels that got *one of the two* sides, the
  share that got the wrong one: how well the method tells the sides apart when it finds the part. 50 is a coin flip.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def main() -> None:
    from partbench.analysis.leftright import PairErrors, as_table, pair_errors, pooled, read_meta_for
    from partbench.analysis.runs import load_run
    from partbench.data.root import resolve_data_root
    from partbench.suites import load_suite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    suite = load_suite("demo")
    meta = read_meta_for(suite, resolve_data_root(args.data_root), args.split)
    errors = {str(run): pair_errors(load_run(run).rows, suite.classes, suite.mirrored_pairs, meta) for run in args.runs}
    keys, keyed = as_table(errors)
    print("| object | pair | facing | gt px | " + " | ".join(f"{r.parent.name}/{r.name} mirror % | side err %"
                                                          for r in args.runs) + " |")
    print("|" + "---|" * (4 + 2 * len(args.runs)))
    first = keyed[str(args.runs[0])]
    for key in keys:
        cells = [*key, str(first[key].gt if key in first else 0)]
        for run in args.runs:
            e = keyed[str(run)].get(key, PairErrors(*key, 0, 0, 0))
            cells += [_pct(e.mirror_rate), _pct(e.side_error)]
        print("| " + " | ".join(cells) + " |")
    cells = ["all", "", "", str(pooled(errors[str(args.runs[0])]).gt)]
    for run in args.runs:
        total = pooled(errors[str(run)])
        cells += [_pct(total.mirror_rate), _pct(total.side_error)]
    print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
