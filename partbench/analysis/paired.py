"""Is run B better than run A on the same samples? A paired bootstrap of B minus A per metric, Holm-adjusted.

Each replicate draws the samples once (within object classes, as results' intervals do) and scores both runs on that
same draw (`PartSegScorer.compare`), so what the runs share (hard images, easy images) cancels: two runs can differ
significantly while their separate intervals in `partbench table` overlap. Every further run is compared with the
first; when more than one test is made (runs x metrics), Holm's step-down adjustment over all of them controls the
chance of any false "significant".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from partbench.analysis.runs import RunData, check_same_samples, object_of_sample
from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.metrics.partseg import PartSegScorer

DEFAULT_METRICS = ("h_iou", "seen_miou", "unseen_miou", "lr_confusion")
DEFAULT_REPLICATES = 2000
# The tasks whose runs record per-sample confusion entries, the only ones `compare` has a scorer for.
SEGMENTATION_TASKS = ("part-semantic", "part-instance")


@dataclass
class MetricDiff:
    """One test: B minus A on one metric, in points; `ci95` the percentile interval of the paired replicates."""

    metric: str
    value_a: float | None
    value_b: float | None
    difference: float | None
    ci95: list[float] | None
    # Two-sided bootstrap p-value. With no replicate on the other side of 0 the bootstrap only says p < 1/B: then
    # `p_value` is that bound (never 0, which would claim certainty) and `p_bound` is True.
    p_value: float | None
    p_value_holm: float | None = None  # over every test of the comparison, when there is more than one
    p_bound: bool = False
    p_holm_bound: bool = False  # the adjusted value is an upper bound (it comes from a bound)

    def p_text(self, holm: bool = False) -> str:
        """The p-value as `compare` prints it, in its table and in --json: `0.0312`, `< 0.0005`, or `—`."""
        value, bound = (self.p_value_holm, self.p_holm_bound) if holm else (self.p_value, self.p_bound)
        if value is None:
            return "—"
        return f"< {value:.2g}" if bound else f"{value:.3g}"


@dataclass
class Comparison:
    """Run `other` against the first run `base`."""

    base: str
    other: str
    other_path: str
    diffs: list[MetricDiff]
    base_path: str = ""


@dataclass
class CompareResult:
    suite: str
    split: str | None
    convention: str
    n_samples: int
    replicates: int
    seed: int
    comparisons: list[Comparison]
    holm: bool
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The runs by name and path, the settings, and per compared run and metric: both values, B − A, its 95%
        interval and p (the number, whether it is a bound, and the text the table prints); one shape for any number
        of runs."""
        def record(c: Comparison) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for d in c.diffs:
                out[d.metric] = {"value_a": d.value_a, "value_b": d.value_b, "difference": d.difference,
                                 "ci95": d.ci95, "p_value": d.p_value, "p_value_bound": d.p_bound, "p": d.p_text()}
                if self.holm:
                    out[d.metric] |= {"p_value_holm": d.p_value_holm, "p_value_holm_bound": d.p_holm_bound,
                                      "p_holm": d.p_text(holm=True)}
            return {"b": c.other, "b_path": c.other_path, "metrics": out}

        first = self.comparisons[0]
        return {"a": first.base, "a_path": first.base_path, "suite": self.suite, "split": self.split,
                "convention": self.convention, "n_samples": self.n_samples, "replicates": self.replicates,
                "seed": self.seed, "holm": self.holm, "comparisons": [record(c) for c in self.comparisons],
                "warnings": self.warnings}

    def describe(self) -> dict[str, Any]:
        """Everything, for `--json --verbose`-style consumers and tests."""
        return asdict(self)


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (step-down, made monotone); None stays None and is not counted as a test."""
    return [value for value, _ in _holm_sources(p_values)]


def _holm_sources(p_values: list[float | None]) -> list[tuple[float | None, int | None]]:
    """Each adjusted p-value and the test whose term it is (the step-down maximum), so a bound stays marked one."""
    tests = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tests)
    out: list[tuple[float | None, int | None]] = [(None, None)] * len(p_values)
    running, source = 0.0, None
    for rank, (p, i) in enumerate(tests):
        term = min(1.0, (m - rank) * p)
        if source is None or term > running:
            running, source = term, i
        out[i] = (running, source)
    return out


def resolved_p(p: float | None, replicates: int) -> tuple[float | None, bool]:
    """(p, whether it is an upper bound): 0, no replicate on the other side of 0, becomes the resolution 1/B."""
    if p is None or p > 0:
        return p, False
    return 1 / replicates, True


def scorer_of(run: RunData) -> PartSegScorer:
    """The run's part-segmentation scorer rebuilt from its per-sample confusion entries."""
    from partbench.metrics.partseg import ClassSpace, PartSegScorer, SampleScore
    from partbench.suites import load_suite

    suite = load_suite(run.suite)
    if run.suite_version is not None and run.suite_version != str(suite.version):
        raise PartbenchError(f"{run.results_path}: scored on {suite.name} v{run.suite_version}, the registered suite "
                             f"is v{suite.version}; re-run it.")
    scorer = PartSegScorer(ClassSpace.from_suite(suite))
    for n, row in enumerate(run.rows, 1):
        if "conf" not in row:
            raise PartbenchError(f"{run.samples_path}: row {n} has no confusion entries ('conf'): `compare` works on "
                                 f"part-segmentation runs (suite task {run.task!r}).")
        try:
            score = SampleScore.from_json(row)
        except (ValueError, TypeError, KeyError) as e:
            raise PartbenchError(f"{run.samples_path}: row {n} ({row.get('id')}) is malformed ({e}).") from None
        if score.object_class is None:
            score.object_class = object_of_sample(row)  # rows written before `object` was recorded
        if len(score.entries) and (score.entries[:, :2].max() > suite.num_classes or score.entries.min() < 0):
            raise PartbenchError(f"{run.samples_path}: row {n} ({score.sample_id}) has class ids outside "
                                 f"0..{suite.num_classes} for suite {suite.name!r}.")
        scorer.add(score)
    return scorer


def compare_runs(runs: list[RunData], metrics: list[str] | None = None, convention: str | None = None,
                 n_replicates: int = DEFAULT_REPLICATES, seed: int = 0,
                 allow_other_data: bool = False) -> CompareResult:
    """Every run after the first against the first, per metric (`DEFAULT_METRICS` that the suite defines)."""
    if len(runs) < 2:
        raise PartbenchError("compare needs at least two runs: the first is the reference the others are compared "
                             "with.")
    if n_replicates < 100:
        raise PartbenchError(f"--replicates must be at least 100 for a p-value and a 95% interval, not {n_replicates}.")
    from partbench.metrics.conventions import check_convention

    for run in runs:  # before anything reads conventions or samples: other tasks score otherwise (e.g. "region")
        if run.task is not None and run.task not in SEGMENTATION_TASKS:
            raise PartbenchError(f"compare supports segmentation runs ({', '.join(SEGMENTATION_TASKS)}); "
                                 f"{run.name} ({run.results_path}) is a {run.task} run.")
    warnings = check_same_samples(runs, allow_other_data)
    convention = check_convention(convention or runs[0].convention)
    base = scorer_of(runs[0])
    point_a = base.compute(convention, n_replicates=0)["metrics"]
    if metrics:
        unknown = [m for m in metrics if m not in point_a]
        if unknown:
            raise PartbenchError(f"unknown metric(s) {', '.join(unknown)} for suite {runs[0].suite!r}; known: "
                                 f"{', '.join(point_a)}.")
    wanted = list(metrics) if metrics else [m for m in DEFAULT_METRICS if m in point_a]
    comparisons = []
    for run in runs[1:]:
        other = scorer_of(run)
        point_b = other.compute(convention, n_replicates=0)["metrics"]
        diff = base.compare(other, convention, n_replicates=n_replicates, seed=seed)
        diffs = []
        for m in wanted:
            p, bound = resolved_p(diff[m]["p_value"], n_replicates)
            diffs.append(MetricDiff(m, point_a.get(m), point_b.get(m), diff[m]["difference"], diff[m]["ci95"], p,
                                    p_bound=bound))
        comparisons.append(Comparison(runs[0].name, run.name, str(run.path), diffs, base_path=str(runs[0].path)))
    tests = [d for c in comparisons for d in c.diffs]
    use_holm = sum(d.p_value is not None for d in tests) > 1
    if use_holm:
        # Adjusting bounds gives bounds (Holm's adjustment grows with every p-value); an adjusted value is one where
        # its step-down maximum comes from a bound below 1.
        for d, (adjusted, source) in zip(tests, _holm_sources([d.p_value for d in tests])):
            d.p_value_holm = adjusted
            d.p_holm_bound = source is not None and tests[source].p_bound and adjusted is not None and adjusted < 1
    return CompareResult(suite=runs[0].suite, split=runs[0].split, convention=convention,
                         n_samples=len(base.samples), replicates=n_replicates, seed=seed, comparisons=comparisons,
                         holm=use_holm, warnings=warnings)
