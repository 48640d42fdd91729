"""The one run loop: every task kind, `run` and `score`, one process or many, whole or sharded.

identity → data fingerprint → run folder → this process's positions → (load ahead in threads → predict what is not
cached → store → evaluate) per batch → gather → shard file or results.json.

Rows are scored right after their prediction is made or read back, so memory holds a bounded window of samples.
Every number is recomputed from the rows in suite order, so an interrupted-and-resumed, sharded or multi-process run
gives results identical to a single uninterrupted one (see `partbench.scale.parallel`). A task kind (`partbench.tasks`)
supplies only its items, its method call, its prediction files and its evaluator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from partbench.api.method import MethodInfo, close_method
from partbench.errors import PartbenchError
from partbench.registry import get_method
from partbench.run import data_check, reuse
from partbench.run.request import RunOutcome, RunRequest, ScoreRequest
from partbench.run.results import results_document, write_shard
from partbench.scale.forked import processes_for, run_forked
from partbench.scale.parallel import ProcessGroup, Shard, my_positions
from partbench.store.atomic import AtomicLineWriter, CollectingWriter, atomic_write_bytes, atomic_write_json
from partbench.store.run_dir import RunDir, cache_key
from partbench.suites import Suite, load_suite
from partbench.tasks.base import Evaluator, Prediction, TaskKind, Work, task_kind_for

Batch = list[tuple[int, Any, Any]]  # (position, sample, what the loader thread prepared)


def run(req: RunRequest) -> RunOutcome:
    """Predict every sample of `req.suite` with `req.method` (reusing cached predictions), evaluate, write the run."""
    suite = load_suite(req.suite)
    kind = task_kind_for(suite)
    info = get_method(req.method, kind.name, where=f"suite {suite.name!r} ({suite.task})")
    _check_numbers(positive={"limit": req.limit, "batch_size": req.batch_size},
                   non_negative={"seed": req.seed, "bootstrap": req.bootstrap, "workers": req.workers})
    split = suite.check_split(req.split)
    shard = Shard.parse(req.shard)
    options = _task_options(kind, suite, {"gt_resize": req.gt_resize})
    args = dict(req.method_args or {})
    kind.check_args(suite, args)
    own = tuple(p.name for p in kind.arg_params or ())
    if kind.arg_params is not None:  # the method's arguments are known before `work` (which may load scorers)
        info.check_args({k: v for k, v in args.items() if k not in own}, elsewhere=own)
    work = kind.work(suite, req.data_root, split, req.limit, dict(args), req.seed, req.convention,
                     **options)
    if kind.arg_params is None:
        info.check_args(work.method_args)
    data_check.check_complete(work, suite.name, req.allow_incomplete_data)
    # A limit that leaves no item out makes the complete run: the same identity and folder as a run without one, so
    # it is neither marked partial nor kept beside the full run as another.
    limit = None if work.limited is False else req.limit
    identity = {"method": req.method, "method_args": work.identity_args, "suite": suite.name,
                "suite_version": suite.version, "split": split, "seed": req.seed}
    if limit is not None:
        identity["limit"] = limit
    identity |= options  # e.g. gt_resize: another ground truth, another object mask, another run
    if work.completeness is not None and not work.completeness.complete:
        identity["data"] = "incomplete"  # its own folder: it never replaces the complete run's results
    run_dir = RunDir.open(req.output_root, identity, force=req.force)
    build_kwargs = {"suite": suite, "data_root": req.data_root, "args": work.method_args, "seed": req.seed}

    with ExitStack() as stack:
        group = stack.enter_context(ProcessGroup.from_env())
        # The fingerprint is computed without loading a model when the method can, so a finished run loads nothing.
        method, fingerprint = info.fingerprint(**build_kwargs)
        holder = _LazyMethod(info, build_kwargs, stack, method)
        method_config = info.describe(**build_kwargs)
        meaningful = info.is_meaningful(work.method_args) and work.meaningful
        imported = _check_inputs(info, work, build_kwargs)
        # Every input file is read (hashed) before the folder is made: a file that is missing or unreadable is
        # refused with nothing written.
        inputs = data_check.fingerprint(work, req.data_root, req.rehash)
        run_dir.create()
        split_work = group.distributed or shard.count > 1  # rows then go to rank 0 / the shard file
        if not split_work:  # processes and shards of one run share the folder on purpose; two runs must not
            stack.enter_context(run_dir.lock())
            # A run that fails before anything is computed (a sample that cannot be read, a method that cannot be
            # built) takes the folder it made with it; pushed after the lock, so it runs while the lock is held.
            stack.push(partial(_discard_on_failure, run_dir))
        if group.is_main:
            _remove_stale_writes(run_dir.path, [run_dir.path / n for n in ("config.json", "samples.jsonl",
                                                                           "results.json", "inputs.json")],
                                 recursive=False)
            run_dir.write_config({"fingerprint": fingerprint, "method_config": method_config} | work.config)

        items = work.items
        positions = my_positions(len(items), shard, group, req.batch_size)
        sample_inputs = inputs.per_sample if inputs is not None else {}
        keys = {p: cache_key(identity, fingerprint, kind.cache_id(items[p]), sample_inputs.get(items[p].id, ""))
                for p in positions}
        paths = {p: kind.prediction_path(run_dir, items[p]) for p in positions}
        todo = {p for p in positions if req.force or kind.stored_key(paths[p]) != keys[p]}
        if group.is_main and not req.force:
            # Only samples predicted again are named: the cache key holds the content of the sample's files, so one
            # whose files are back to what its stored prediction was made from is reused, whatever inputs.json
            # (written when a run finishes) says an interrupted or sharded run saw last.
            data_check.report_changed(run_dir.read_inputs(), inputs, [items[p].id for p in positions if p in todo])
        row_keys = {p: reuse.row_key(keys[p], work.evaluator_config) for p in positions}
        reused = {} if req.force else reuse.reusable_rows(
            run_dir.samples_path, {row_keys[p]: p for p in positions if p not in todo})
        _remove_stale_writes(run_dir.predictions, paths.values())
        needs_images = info.needs_images()

        def prepare(position: int, sample: Any) -> None:
            if needs_images and position in todo:
                kind.warm(sample)

        def predict(batch: Batch) -> list[Prediction]:
            fresh: dict[int, Any] = {}
            wanted = [(p, s) for p, s, _ in batch if p in todo]
            if wanted:
                outputs = kind.call(holder.get(), [s for _, s in wanted], suite, req.method)
                for (p, s), raw in zip(wanted, outputs):
                    pred = kind.finalize(raw, s, suite, f"method {req.method!r}, sample {items[p].id}")
                    atomic_write_bytes(paths[p], kind.encode(pred, suite, keys[p]))
                    fresh[p] = pred
            return [Prediction(keys[p], p in fresh, str(paths[p]), fresh.get(p), partial(kind.decode, paths[p], suite))
                    for p, _, _ in batch]

        evaluator = kind.evaluator(suite, work.evaluator_config, run_dir, req.force)
        extra = {"limit": limit, "seed": req.seed, "fingerprint": fingerprint, "method_config": method_config,
                 "data": data_check.data_summary(work, inputs)}
        if imported is not None:
            extra["inputs"] = imported.get("summary")
        # What listing the split skipped is counted over the whole split, and cannot be told per item: a limited run
        # reports only what it skipped itself (the kind's unscorable samples, counted while scoring).
        skipped = dict(work.skipped) if limit is None else {}
        header = {"suite": suite.name, "split": split, "method": req.method, "method_args": work.identity_args,
                  "run_name": run_dir.path.name, "meaningful": meaningful, "skipped": skipped,
                  "n_refs": len(items), "extra": extra | work.config}
        loop = _Loop(kind, suite, work, evaluator, group, req.batch_size, req.workers, run_dir.results_path,
                     row_keys=row_keys)
        rows, counts = loop.go(positions, prepare, predict, run_dir.samples_path, split_work=split_work,
                               description=f"{req.method} on {suite.name}/{split}", reused=reused)
        done = loop.conclude(rows, counts, header, run_dir.samples_path, shard, run_dir.path, req.bootstrap)
        if group.is_main and inputs is not None:
            atomic_write_json(run_dir.inputs_path, data_check.inputs_document(inputs))
        if done is not None and done[0] is not None:
            run_dir.write_results(done[0])  # inside the lock: a waiting run sees finished results
    if done is None:  # a rank other than 0
        return RunOutcome(run_dir.path, None, counts["predicted"], counts["cached"])
    results, total = done
    if results is None:
        return RunOutcome(run_dir.path, None, total["predicted"], total["cached"],
                          note=f"shard {shard.index}/{shard.count} done; combine with `partbench merge {run_dir.path}`")
    return RunOutcome(run_dir.path, results, total["predicted"], total["cached"])


# Samples `score` takes at a time, and the unit in which processes share the split.
SCORE_BATCH = 16


def score(req: ScoreRequest) -> dict[str, Any] | None:
    """Score predictions made by any codebase with exactly the loop and evaluator `run` uses.

    Per-sample rows go to `req.samples_path`; the results are returned (None on ranks other than 0 of a `torchrun`
    launch). Missing predictions are an error listing them unless `allow_missing`.
    """
    _check_numbers(positive={"processes": req.processes},
                   non_negative={"bootstrap": req.bootstrap, "workers": req.workers})
    suite = load_suite(req.suite)
    kind = task_kind_for(suite)
    split = suite.check_split(req.split)
    work = kind.work(suite, req.data_root, split, None, {}, 0, req.convention,
                     **_task_options(kind, suite, {"gt_resize": req.gt_resize}))
    data_check.check_complete(work, suite.name, req.allow_incomplete_data)
    samples_path, results_path = req.samples_path, req.results_path
    if req.incomplete_paths is not None and work.completeness is not None and not work.completeness.complete:
        samples_path, results_path = req.incomplete_paths
    saved = kind.open_saved(suite, Path(req.predictions), work, req.allow_missing)
    inputs = data_check.fingerprint(work, req.data_root)
    evaluator = kind.evaluator(suite, work.evaluator_config, None, False)

    def predict(batch: Batch) -> list[Prediction]:
        out = []
        for _, sample, raw in batch:
            where = saved.describe(sample)
            out.append(Prediction(None, False, where, kind.finalize(raw, sample, suite, where)))
        return out

    header = {"suite": suite.name, "split": split, "method": f"imported:{req.name}", "method_args": {},
              "run_name": req.name, "meaningful": True, "skipped": dict(work.skipped), "n_refs": len(work.items),
              "extra": {"predictions": str(Path(req.predictions).resolve()), "n_missing_predictions": saved.n_missing,
                        "data": data_check.data_summary(work, inputs)} | work.config}
    def score_share(group: ProcessGroup) -> tuple[dict[str, Any] | None, dict[str, int]] | None:
        # Runs of consecutive samples keep an image's samples (and its decoded annotations) in one process.
        positions = my_positions(len(work.items), Shard(0, 1), group, batch_size=SCORE_BATCH)
        loop = _Loop(kind, suite, work, evaluator, group, batch_size=SCORE_BATCH, workers=req.workers,
                     results_path=results_path)
        rows, counts = loop.go(positions, lambda _, sample: saved.read(sample), predict, samples_path,
                               split_work=group.distributed, description=f"scoring {req.name} on {suite.name}/{split}"
                               + (f" ({group.world_size} processes)" if group.world_size > 1 else ""),
                               total=len(work.items))
        return loop.conclude(rows, counts, header, samples_path, Shard(0, 1), None, req.bootstrap)

    processes = processes_for(req.processes, len(work.items))
    with ProcessGroup.from_env() as group:
        if group.is_main:
            _remove_stale_writes(Path(samples_path).parent, [Path(samples_path)], recursive=False)
        done = run_forked(processes, score_share) if processes > 1 else score_share(group)
    return None if done is None else done[0]


class _Loop:
    """One pass over this process's positions, and what follows it: gathering, shard files or results."""

    def __init__(self, kind: TaskKind, suite: Suite, work: Work, evaluator: Evaluator, group: ProcessGroup,
                 batch_size: int, workers: int, results_path: Path | None, row_keys: dict[int, str] | None = None):
        self.kind, self.suite, self.work, self.evaluator, self.group = kind, suite, work, evaluator, group
        self.batch_size, self.workers = batch_size, workers
        self.results_path = results_path  # deleted when new rows replace the ones it was computed from
        self.row_keys = row_keys or {}  # position -> the key its samples.jsonl line carries (partbench.run.reuse)
        self.single = True

    def line(self, row: Any, key: str | None) -> dict[str, Any]:
        """A row as its samples.jsonl line, with the key that lets a later run reuse it."""
        encoded = self.evaluator.encode(row)
        return encoded | {"row_key": key} if key else encoded

    def keyed(self, row: Any) -> tuple[Any, str | None]:
        """A row and its row key, as split work sends it to rank 0 (only this process knows its rows' keys)."""
        return row, self.row_keys.get(self.evaluator.position(row))

    def go(self, positions: list[int], prepare: Callable[[int, Any], Any], predict: Callable[[Batch], list],
           samples_path: Path, split_work: bool, description: str, reused: dict[int, dict[str, Any]] | None = None,
           total: int | None = None) -> tuple[list[Any], dict[str, int]]:
        """Load (with `prepare` in the loader threads), predict and evaluate every position, writing the rows to
        `samples_path`, or collecting them when the work is split between processes or shards. Positions in `reused`
        are neither loaded nor predicted: their earlier samples.jsonl line is the row. `total`: the samples of all
        processes, when the other processes report their progress to this one's bar (forked scoring)."""
        from partbench.console import progress_bar
        from partbench.data.prefetch import prefetch

        kind, work, evaluator = self.kind, self.work, self.evaluator
        self.single = not split_work

        def load(position: int) -> tuple[int, Any, Any]:
            sample = work.load(work.items[position])
            return position, sample, prepare(position, sample) if kind.scorable(sample) else None

        mine: list[Any] = []  # sent to rank 0 when the work is split (rows pickle compactly)
        counts = {"predicted": 0, "cached": 0, "unscorable": 0}
        others = self.group.sees_others_progress  # their samples are counted on this bar too
        with progress_bar(disable=not self.group.is_main) as bar, \
                (CollectingWriter(mine) if split_work else AtomicLineWriter(samples_path, self.results_path)) as out:
            task = bar.add_task(description, total=total if others and total else len(positions), note="")

            unpolled = 0

            def advance(done: int) -> None:
                nonlocal unpolled
                self.group.report_progress(done)  # to rank 0, from a forked child
                unpolled += done
                if others and unpolled >= self.batch_size:  # a look at the pipes every batch, not every sample
                    done, unpolled = done + self.group.progress_of_others()[0], 0
                bar.update(task, advance=done, note=f"cached {counts['cached']}")

            reused = reused or {}
            samples = prefetch([p for p in positions if p not in reused], load, workers=self.workers,
                               depth=2 * self.batch_size)
            for what, batch in reuse.in_order(positions, reused, samples, self.batch_size):
                if what == "reused":
                    row = evaluator.decode(batch)
                    evaluator.add(row)
                    out.write(self.keyed(row) if split_work else batch)
                    counts["cached"] += 1
                    advance(1)
                    continue
                scorable = [entry for entry in batch if kind.scorable(entry[1])]
                counts["unscorable"] += len(batch) - len(scorable)
                predictions = predict(scorable) if scorable else []
                triples = [(p, s, pred) for (p, s, _), pred in zip(scorable, predictions)]
                for row in evaluator.process(triples):
                    out.write(self.keyed(row) if split_work else self.line(*self.keyed(row)))
                fresh = sum(pred.fresh for pred in predictions)
                counts["predicted"] += fresh
                counts["cached"] += len(predictions) - fresh
                advance(len(batch))
            while others:  # this process's share is done: the bar follows the others' until they finish
                done, finished = self.group.progress_of_others(block=True)
                bar.update(task, advance=done)
                others = not finished
        return mine, counts

    def conclude(self, rows: list[Any], counts: dict[str, int], header: dict[str, Any], samples_path: Path,
                 shard: Shard, run_path: Path | None, n_replicates: int
                 ) -> tuple[dict[str, Any] | None, dict[str, int]] | None:
        """(results, counts over all processes) on rank 0 — results None for a shard, which writes its file instead
        — and None on other ranks."""
        evaluator = self.evaluator
        if self.single:
            return results_document(self.suite, self._with_unscorable(header, counts), evaluator, n_replicates), counts
        gathered = self.group.gather({"rows": rows, "counts": counts})
        if not self.group.is_main:
            return None
        ordered = sorted((r for g in gathered for r in g["rows"]), key=lambda keyed: evaluator.position(keyed[0]))
        total = {k: sum(g["counts"][k] for g in gathered) for k in counts}
        if shard.count > 1:
            assert run_path is not None
            suite_file = str(Path(self.suite.source_file).resolve()) if self.suite.source_file else None
            write_shard(run_path, shard, header | {"task": self.suite.task, "suite_file": suite_file,
                                                   "convention": evaluator.convention,
                                                   "evaluator": self.work.evaluator_config},
                        [self.line(row, key) for row, key in ordered], total["unscorable"])
            return None, total
        evaluator.reset()
        with AtomicLineWriter(samples_path, self.results_path) as out:
            for row, key in ordered:
                evaluator.add(row)
                out.write(self.line(row, key))
        return results_document(self.suite, self._with_unscorable(header, total), evaluator, n_replicates), total

    def _with_unscorable(self, header: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
        if self.kind.unscorable is None:
            return header
        return header | {"skipped": header["skipped"] | {self.kind.unscorable: counts["unscorable"]}}


class _LazyMethod:
    """The method, built on first use (a finished run builds none) and closed when the run ends, however it ends."""

    def __init__(self, info: MethodInfo, build_kwargs: dict[str, Any], stack: ExitStack, method: Any = None):
        self.info, self.build_kwargs, self.stack = info, build_kwargs, stack
        self.method = None
        if method is not None:
            self._keep(method)

    def _keep(self, method: Any) -> None:
        self.method = method
        self.stack.callback(close_method, method)

    def get(self) -> Any:
        if self.method is None:
            self._keep(self.info.build(**self.build_kwargs))
        return self.method


def _discard_on_failure(run_dir: RunDir, failed: type[BaseException] | None, *_: Any) -> bool:
    """An exit callback: the run folder goes when the run failed before computing anything. Never suppresses."""
    if failed is not None:
        run_dir.discard_if_unused()
    return False


def _check_inputs(info: MethodInfo, work: Work, build_kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Methods that import results made elsewhere check them all up front: one report of every missing file."""
    if work.input_check is None:
        return None
    from partbench.console import err_console

    report = info.check_inputs(**work.input_check, **build_kwargs)
    for line in report.get("warnings", []):
        err_console.print(f"warning: {line}", style="yellow", highlight=False, soft_wrap=True)
    return report


def _task_options(kind: TaskKind, suite: Suite, options: dict[str, Any]) -> dict[str, Any]:
    """The options that are set, refused for a task kind that does not take them."""
    given = {k: v for k, v in options.items() if v is not None}
    for name in given:
        if name not in kind.options:
            raise PartbenchError(f"--{name.replace('_', '-')} does not apply to suite {suite.name!r} "
                                 f"({kind.name} task).")
    return given


def _check_numbers(positive: dict[str, int | None], non_negative: dict[str, int | None]) -> None:
    """Refuse impossible option values before anything is read or written."""
    for bound, options in ((1, positive), (0, non_negative)):
        for name, value in options.items():
            if value is not None and value < bound:
                raise PartbenchError(f"--{name.replace('_', '-')} must be at least {bound}, got {value}.")


def _remove_stale_writes(root: Path, targets: Iterable[Path], recursive: bool = True) -> None:
    """Delete temporary files left by killed writes of these files. Only this process's own: other processes and
    shards writing into the same folder may have writes in flight. (`.<name>.<random>.tmp`: `store.atomic`.)"""
    mine = set(targets)
    for tmp in (root.rglob if recursive else root.glob)(".*.tmp"):
        target = tmp.with_name(tmp.name[1:-len(".tmp")].rsplit(".", 1)[0])
        if target in mine:
            tmp.unlink(missing_ok=True)
