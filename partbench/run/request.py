"""What `run` and `score` are asked to do, and what they report back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RunRequest:
    method: str
    suite: str
    data_root: Path
    output_root: Path = Path("runs")
    split: str | None = None
    method_args: dict[str, str] | None = None
    limit: int | None = None
    seed: int = 0
    force: bool = False
    convention: str | None = None
    batch_size: int = 8
    bootstrap: int = 1000
    shard: str | None = None  # "K/N": this job's share of an array of independent jobs
    workers: int = 2  # threads decoding samples ahead of inference (0: decode inline)
    allow_incomplete_data: bool = False  # score what is there; results.json records complete: false
    rehash: bool = False  # hash every input file again instead of trusting unchanged sizes and mtimes
    gt_resize: str | None = None  # "SHORT,MAX": the official evaluators' ground-truth round trip

    def __post_init__(self) -> None:
        if self.gt_resize is not None and self.gt_resize.strip().lower() == "published":
            self.gt_resize = _published_gt_resize(self.method, self.suite)
        self.gt_resize = _normalised_gt_resize(self.gt_resize)


@dataclass
class ScoreRequest:
    """Score predictions made by any codebase (`partbench.tasks.imported_maps`) with the loop `run` uses."""

    suite: str
    data_root: Path
    predictions: Path
    name: str
    samples_path: Path  # where the per-sample rows go
    split: str | None = None
    convention: str | None = None
    allow_missing: bool = False  # score samples without a prediction as predicting nothing
    bootstrap: int = 1000
    workers: int = 0
    processes: int | None = None  # forked scoring processes (None: one per core for splits big enough to gain)
    results_path: Path | None = None  # where the caller writes the results: removed when the rows are replaced
    allow_incomplete_data: bool = False
    # (samples, results) paths used instead when the data turns out incomplete, so that an import scored without
    # some files never replaces the complete one's (the caller writes the results there: `data.complete` is false)
    incomplete_paths: tuple[Path, Path | None] | None = None
    gt_resize: str | None = None

    def __post_init__(self) -> None:
        self.gt_resize = _normalised_gt_resize(self.gt_resize)


@dataclass
class RunOutcome:
    run_dir: Path | None
    results: dict[str, Any] | None  # None on shards and on ranks other than 0: they write no results.json
    predicted: int
    cached: int
    note: str = ""


def _published_gt_resize(method: str, suite: str) -> str | None:
    """The test size of the evaluator behind `method`'s published numbers (`MethodInfo.published_gt_resize`); None
    (native annotations) on PartImageNet, whose official mapper computes the resize but never applies it."""
    from partbench.data.gt_resize import TEST_SIZES
    from partbench.errors import PartbenchError
    from partbench.registry import get_method
    from partbench.suites import load_suite

    if load_suite(suite).reader == "partimagenet":
        return None
    preset = get_method(method).published_gt_resize
    if preset is None:
        raise PartbenchError(f"--gt-resize published: {method!r} declares no upstream test size (its published "
                             f"numbers involve no ground-truth round trip, or the size is not known). Pass SHORT,MAX "
                             f"or a codebase ({', '.join(TEST_SIZES)}); docs/suites.md lists the sizes.")
    return preset


def _normalised_gt_resize(text: str | None) -> str | None:
    """`640, 768` -> `640,768` (checked), so that one setting always names one run."""
    if text is None:
        return None
    from partbench.data.gt_resize import GtResize

    return str(GtResize.parse(text))
