"""How often does a 95 % bootstrap interval cover the population value? Old vs new resampling, 30 and 200 samples.

    python benchmarks/ci_coverage.py [--draws 400] [--replicates 1000] [--sizes 30,200] [--convention ovparts]
                                     [--rare-beta 6,3] [--fp-rate 0.15] [--methods old,...] [--seed 0]

A generated population (20000 image-object samples, as the scorer keeps them: per-sample confusion entries) of six
object classes, three unseen, each with 4-5 common parts (in 90 % of its samples) and 5-6 rare ones (in 8-25 %).
A part's pixels are predicted right with a part-specific quality (Beta(6,3); rare parts Beta(--rare-beta): as good
by default, 2,5 makes them worse), misses go to a common part or to nothing, and an absent rare part gets a few
predicted pixels in --fp-rate of its object's samples: rare classes that vanish from a resample while their false
positives stay, issue 17's case. The population value of a metric is the scorer's number on all 20000 samples.
Each draw is a simple random sample of N (object counts vary from draw to draw); every method scores the same draws
with the same bootstrap seed:

- `old`: partbench before issue 17: samples resampled freely, each replicate averaging over its own classes;
- `stratified`, `full-set classes`: one of the two fixes alone;
- `new percentile`: both fixes (what results report); `new BCa`: both fixes with the BCa interval.

Printed per size: the estimator's own bias and spread over the draws, then per method and metric the coverage of
the population value, the share of intervals containing their own estimate, the mean width (points), and the
coverage of the mean estimate at that N (what an interval can reach when the estimator itself is biased: on small
sets ovparts counts absent rare classes with false positives as 0). The Monte-Carlo error of a coverage near 95 %
over D draws is about sqrt(0.95·0.05/D): 1.1 points at 400 draws.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

OBJECTS = {  # name: (share of samples, unseen, common parts, rare parts)
    "figure": (0.28, False, 5, 6),
    "cow": (0.18, False, 4, 5),
    "car": (0.18, False, 5, 6),
    "robot": (0.14, True, 5, 6),
    "horse": (0.12, True, 4, 5),
    "bus": (0.10, True, 5, 6),
}
METRICS = ("seen_miou", "unseen_miou", "h_iou", "miou")
METHODS = {  # label: keyword arguments of PartSegScorer.intervals
    "old": {"stratified": False, "full_set_classes": False, "method": "percentile"},
    "stratified": {"stratified": True, "full_set_classes": False, "method": "percentile"},
    "full-set classes": {"stratified": False, "full_set_classes": True, "method": "percentile"},
    "new percentile": {"stratified": True, "full_set_classes": True, "method": "percentile"},
    "new BCa": {"stratified": True, "full_set_classes": True, "method": "bca"},
}


def make_population(n: int, seed: int, rare_beta: tuple[float, float] = (6, 3), fp_rate: float = 0.15):
    """(ClassSpace, list of (object class, (K, 3) confusion entries [pred, gt, pixels])) for `n` samples."""
    from partbench.metrics.partseg import ClassSpace

    rng = np.random.default_rng(seed)
    classes, unseen, parts, common, rare = [], [], {}, {}, {}
    for obj, (_, is_unseen, n_common, n_rare) in OBJECTS.items():
        first = len(classes)
        classes += [f"{obj}'s part {k}" for k in range(n_common + n_rare)]
        unseen += [is_unseen] * (n_common + n_rare)
        parts[obj] = np.arange(first, len(classes))
        common[obj] = np.arange(first, first + n_common)
        rare[obj] = np.arange(first + n_common, len(classes))
    c = len(classes)
    presence = np.full(c, 0.9)  # how often a part is in its object's samples
    quality = rng.beta(6, 3, size=c)  # a part's typical share of pixels predicted right
    for ids in rare.values():
        presence[ids] = rng.uniform(0.08, 0.25, size=ids.size)
        quality[ids] = rng.beta(*rare_beta, size=ids.size)
    space = ClassSpace(tuple(classes), tuple(unseen), ignore_label=255)
    names = list(OBJECTS)
    share = np.array([v[0] for v in OBJECTS.values()])
    samples = []
    for obj in rng.choice(names, size=n, p=share / share.sum()):
        ids = parts[obj]
        present = ids[rng.random(ids.size) < presence[ids]]
        if present.size == 0:
            present = ids[:1]
        conf = np.zeros((c + 1, c), dtype=np.int64)  # conf[pred, gt]; row c: no prediction
        for g in present:
            pixels = int(rng.lognormal(5.0, 0.8)) + 1
            right = rng.binomial(pixels, rng.beta(8 * quality[g] + 0.5, 8 * (1 - quality[g]) + 0.5))
            if pixels > right:  # a miss goes to a common part of the object, or to nothing
                other = rng.choice(common[obj])
                conf[other if other != g else c, g] += pixels - right
            conf[g, g] += right
        for fp in np.setdiff1d(rare[obj], present):  # a few pixels of an absent rare part predicted anyway
            if rng.random() < fp_rate:
                g = rng.choice(present)
                moved = min(conf[g, g], int(rng.lognormal(1.5, 0.5)) + 1)
                conf[g, g] -= moved
                conf[fp, g] += moved
        p, q = np.nonzero(conf)
        samples.append((str(obj), np.stack([p, q, conf[p, q]], axis=1).astype(np.int32)))
    return space, samples


def scorer_of(space, samples, rows):
    from partbench.metrics.partseg import PartSegScorer, SampleScore

    scorer = PartSegScorer(space)
    for i, r in enumerate(rows):
        obj, entries = samples[r]
        scorer.add(SampleScore(i, f"s{r}", entries, obj))
    return scorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=int, default=20000)
    parser.add_argument("--draws", type=int, default=400, help="sets drawn per size")
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates per interval")
    parser.add_argument("--sizes", default="30,200")
    parser.add_argument("--convention", default="ovparts")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rare-beta", default="6,3",
                        help="Beta(a,b) of rare parts' quality; common parts' is 6,3 (2,5: rare parts segmented worse)")
    parser.add_argument("--fp-rate", type=float, default=0.15,
                        help="chance that an absent rare part gets a few predicted pixels in a sample")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",")]

    start = time.perf_counter()
    rare_beta = tuple(float(x) for x in args.rare_beta.split(","))
    space, samples = make_population(args.population, args.seed, rare_beta, args.fp_rate)
    everyone = scorer_of(space, samples, range(len(samples))).compute(args.convention, n_replicates=0)["metrics"]
    truth = {m: everyone[m] for m in METRICS}
    print(f"population: {len(samples)} samples, {space.num_classes} part classes; population values (points): "
          + ", ".join(f"{m} {v:.2f}" for m, v in truth.items()))
    rng = np.random.default_rng(args.seed + 1)
    header = "| N | method | " + " | ".join(f"{m} cover / own / width / cover mean" for m in METRICS) + " |"
    lines = [header, "|" + "---|" * (2 + len(METRICS))]
    for size in (int(s) for s in args.sizes.split(",")):
        estimates, intervals = [], {m: [] for m in methods}
        for d in range(args.draws):
            scorer = scorer_of(space, samples, rng.choice(len(samples), size=size, replace=False))
            estimates.append(scorer.compute(args.convention, n_replicates=0)["metrics"])
            for m in methods:
                intervals[m].append(scorer.intervals(args.convention, args.replicates, seed=d, **METHODS[m]))
        est = {k: np.array([np.nan if e[k] is None else e[k] for e in estimates]) for k in METRICS}
        mean = {k: np.nanmean(v) for k, v in est.items()}
        print(f"N={size}: estimate minus population value, mean ± sd over draws (points): "
              + ", ".join(f"{k} {mean[k] - truth[k]:+.2f} ± {np.nanstd(est[k]):.2f}" for k in METRICS))
        for m in methods:
            cells = []
            for k in METRICS:
                lo, hi = (np.array([np.nan if iv.get(k) is None else 100 * iv[k][j] for iv in intervals[m]])
                          for j in (0, 1))
                ok = np.isfinite(lo) & np.isfinite(est[k])
                lo, hi, e = lo[ok], hi[ok], est[k][ok]
                cells.append(f"{100 * np.mean((lo <= truth[k]) & (truth[k] <= hi)):.1f} / "
                             f"{100 * np.mean((lo <= e) & (e <= hi)):.1f} / {np.mean(hi - lo):.1f} / "
                             f"{100 * np.mean((lo <= mean[k]) & (mean[k] <= hi)):.1f}")
            lines.append(f"| {size} | {m} | " + " | ".join(cells) + " |")
    print(f"\n{args.draws} draws per size, {args.replicates} replicates, convention {args.convention}; "
          "cover = % of intervals covering the population value, own = % containing their own estimate, width in "
          "points, cover mean = % covering the mean estimate at that N\n")
    print("\n".join(lines))
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
