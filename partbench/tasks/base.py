"""What a task kind plugs into the run loop: its work items, how a method is called, how a prediction is stored, and
its evaluator. The loop (`partbench.run.loop`) owns everything else: identity, caching, resume, progress, batches,
shards and process groups, and the results document.

A new task kind is one module that subclasses `TaskKind`, implements an `Evaluator`, and registers itself with
`partbench.registry.register_task_kind`; see docs/adding-a-method.md and `tests/plugins/toy_task.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from partbench.api.method import Param, check_method_args
from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.data.completeness import Completeness
    from partbench.store.run_dir import RunDir
    from partbench.suites import Suite

T = TypeVar("T")


@dataclass
class Work:
    """The items one run or scoring pass goes through, in suite order, and what the run records about them."""

    items: list[Any]  # each has a stable `.id`
    load: Callable[[Any], Any]  # item -> sample; called from loader threads
    method_args: dict[str, str]  # what the method is built with
    identity_args: dict[str, str]  # what the run's identity records as its method_args (run folder, cache keys)
    evaluator_config: dict[str, Any]  # what rebuilds the evaluator (also in shard files, for `merge`)
    skipped: dict[str, int] = field(default_factory=dict)  # items left out when listing, by reason
    config: dict[str, Any] = field(default_factory=dict)  # extra run settings for config.json and results.json
    input_check: dict[str, Any] | None = None  # keyword arguments of the method's `check_inputs` hook, if called
    # The files each item is read from (its input fingerprint: partbench.store.inputs); None for items read from
    # nothing but the suite itself (a prompt list), which the suite version covers.
    input_files: Callable[[Any], Sequence[Path]] | None = None
    completeness: Completeness | None = None  # is the split's data all there (partbench.data.completeness)
    # Whether `--limit` left items out. A limit at or above the split's size leaves the run complete, so the loop
    # drops it from the run's identity. None (a kind that does not say) counts as leaving items out: a limited run
    # taken for a full one could replace the full run's results.
    limited: bool | None = None
    # False when the kind's own scoring is a smoke test (a random tiny CLIP): the run's numbers then mean nothing
    # whatever the method, and results.json says so as it does for a method's smoke settings.
    meaningful: bool = True


def first_items(items: Sequence[T], limit: int | None) -> tuple[list[T], bool]:
    """The first `limit` items (all of them without a limit), and whether the limit left any out (`Work.limited`)."""
    if limit is None or limit >= len(items):
        return list(items), False
    return list(items[:limit]), True


@dataclass
class Prediction:
    """One sample's prediction as the evaluator receives it: fresh from the method, or read back when needed."""

    key: str | None  # the cache key it was made under (None: predictions made elsewhere, `partbench score`)
    fresh: bool
    where: str  # names the file in messages
    value: Any = None
    loader: Callable[[], Any] | None = None

    def get(self) -> Any:
        if self.value is None and self.loader is not None:
            self.value = self.loader()
        return self.value


class Evaluator(Protocol):
    """Scores samples one batch at a time and reduces them to results (detectron2's `DatasetEvaluator` shape).

    Rows are its per-sample state: `process` returns them, `add` takes them back (from other processes, shards, or
    an earlier samples.jsonl), and `evaluate` reduces whatever was processed or added, in suite order.
    """

    convention: str

    def reset(self) -> None: ...

    def process(self, batch: Sequence[tuple[int, Any, Prediction]]) -> list[Any]:
        """Score (position, sample, prediction) triples; one row per triple, each carrying its position."""

    def add(self, row: Any) -> None: ...

    def position(self, row: Any) -> int: ...

    def encode(self, row: Any) -> dict[str, Any]:
        """The row as a samples.jsonl line: JSON types only, with its position as `index`."""

    def decode(self, line: dict[str, Any]) -> Any: ...

    def summary(self) -> dict[str, Any]:
        """Fields results.json places after `convention` (e.g. `n_samples`)."""

    def evaluate(self, n_replicates: int) -> dict[str, Any]:
        """Metrics and their detail: `metrics`, `ci95`, `higher_is_better` at least."""


class TaskKind(ABC):
    """The hooks of one task kind; defaults fit kinds whose samples are items and whose predictions are PNG files."""

    name: str = ""  # the method kind it serves ("segmentation", "generation", ...)
    suite_tasks: tuple[str, ...] = ()  # the suite `task` values it evaluates
    unscorable: str | None = None  # n_skipped key for samples the evaluator cannot score (None: all scorable)
    # Run options beyond the common ones that `work` accepts as keyword arguments (e.g. segmentation's `gt_resize`);
    # the loop refuses such an option for a kind that does not list it.
    options: tuple[str, ...] = ()
    # Other method kinds this kind also runs, adapting their interface in `call` (part-reasoning runs segmentation
    # methods teacher-forced); a method registered for this kind itself is preferred (`registry.get_method`).
    method_kinds: tuple[str, ...] = ()
    # The `--method-arg`s the kind takes itself (scorer and protocol options), split off before the method sees the
    # rest: declared so that `partbench suites NAME` lists them, bad values are refused before anything runs, and a
    # misspelt one is answered with its name rather than passed to the method. `()`: none. None: not declared (the
    # kind's `work` may split off arguments of its own, so the method's are checked only after it).
    arg_params: tuple[Param, ...] | None = None
    # Top-level suite-YAML keys the kind reads itself (generation: images_per_prompt, clip_model, ...), beside the
    # keys every suite has: any other key is refused as a typo (`partbench.suites.parse`).
    suite_keys: tuple[str, ...] = ()

    @abstractmethod
    def work(self, suite: Suite, data_root: Path, split: str, limit: int | None, args: dict[str, str],
             seed: int, convention: str | None) -> Work:
        ...

    def check_args(self, suite: Suite, args: dict[str, str]) -> None:
        """Refuse a bad value of an argument the kind takes itself (`arg_params`), before `work` parses it."""
        declared = {p.name for p in self.arg_params or ()}
        check_method_args(self.name, self.arg_params or (), {k: v for k, v in args.items() if k in declared},
                          owner=f"Suite {suite.name!r} ({self.name})")

    def cache_id(self, item: Any) -> str:
        """What identifies the item in its cache key."""
        return item.id

    def scorable(self, sample: Any) -> bool:
        return True

    def warm(self, sample: Any) -> None:
        """Decode what the method will read, in a loader thread (called only for samples still to predict)."""
        return None  # nothing to decode ahead unless a kind says what

    @abstractmethod
    def call(self, method: Any, samples: list[Any], suite: Suite, method_name: str) -> list[Any]:
        """The method's outputs for `samples`, one each, checked for count and type."""

    def finalize(self, output: Any, sample: Any, suite: Suite, where: str) -> Any:
        """A method's output as the prediction that is stored and scored."""
        return output

    def prediction_path(self, run_dir: RunDir, item: Any) -> Path:
        return run_dir.predictions / f"{item.id}.png"

    @abstractmethod
    def encode(self, prediction: Any, suite: Suite, key: str) -> bytes:
        """The file a prediction is stored in; it must carry `key` so that a stale file is never reused."""

    @abstractmethod
    def decode(self, path: Path, suite: Suite) -> Any:
        ...

    def stored_key(self, path: Path) -> str | None:
        """The cache key a stored prediction carries (None if absent or unreadable: it is then made again)."""
        from partbench.store.run_dir import read_cache_key

        return read_cache_key(path)

    def open_saved(self, suite: Suite, path: Path, work: Work, allow_missing: bool) -> SavedPredictions:
        """Predictions made elsewhere, for `partbench score`."""
        raise PartbenchError(f"`partbench score` does not read saved predictions for {self.name} suites; "
                             f"run the method with `partbench run` instead.")

    @abstractmethod
    def evaluator(self, suite: Suite, config: dict[str, Any], run_dir: RunDir | None, force: bool) -> Evaluator:
        ...


class SavedPredictions(Protocol):
    """Predictions made by any codebase, for `partbench score`: read per sample in loader threads."""

    n_missing: int

    def read(self, sample: Any) -> Any:
        """The raw prediction of `sample` (an empty one if it is missing and that was allowed)."""

    def describe(self, sample: Any) -> str: ...


def check_coverage(path: Path, total: int, missing: Sequence[str], unmatched: Sequence[str], allow_missing: bool,
                   unit: str, empty: str, hint: str = "") -> None:
    """What `partbench score` says of saved predictions that do not cover the split one to one: `missing` (ids of
    items without a prediction) refused unless `allow_missing`, then counted in a warning, and `unmatched`
    (predictions that match no item, by name) counted in a warning. `unit` names the items (samples, records),
    `empty` what a missing prediction is scored as."""
    if missing and not allow_missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise PartbenchError(f"{path}: {len(missing)} of {total} {unit} have no prediction ({shown}). "
                             f"Use --allow-missing to score them as {empty}.{hint}")
    warnings = []
    if missing:
        warnings.append(f"{len(missing)} of {total} {unit} have no prediction in {path}: each is scored as {empty} "
                        f"(--allow-missing).")
    if unmatched:
        warnings.append(f"{len(unmatched)} predictions in {path} match no {unit.rstrip('s')} of this split and are "
                        f"not scored (e.g. {unmatched[0]}).")
    if warnings:
        from partbench.console import err_console

        for line in warnings:
            err_console.print(f"warning: {line}", style="yellow", markup=False, highlight=False, soft_wrap=True)


def task_kind_for(suite: Suite) -> TaskKind:
    """The registered task kind that evaluates `suite.task`."""
    from partbench.registry import TASK_KINDS

    for _, kind in TASK_KINDS.items():
        if suite.task in kind.suite_tasks:
            return kind
    raise PartbenchError(f"Suite {suite.name!r} has task {suite.task!r}, which no registered task kind evaluates.")


def suite_keys_of(task: str) -> tuple[str, ...]:
    """The extra suite-YAML keys of the kind that evaluates `task` (none when no kind does)."""
    from partbench.registry import TASK_KINDS

    return next((kind.suite_keys for _, kind in TASK_KINDS.items() if task in kind.suite_tasks), ())


def suite_tasks() -> list[str]:
    """Every suite `task` value some registered task kind evaluates."""
    from partbench.registry import TASK_KINDS

    return [t for _, kind in TASK_KINDS.items() for t in kind.suite_tasks]
