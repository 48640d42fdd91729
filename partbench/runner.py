"""The run loop: predict every sample (reusing cached predictions), score, write the run directory.

Prediction and scoring share one pass: a sample's prediction is scored right after it is made or read back from the
cache, so memory holds a bounded window of decoded samples. Every number is recomputed from stored per-sample
confusion entries in suite order, so an interrupted-and-resumed, sharded or multi-process run gives metrics identical
to a single uninterrupted one (see `partbench.parallel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from partbench.data.prefetch import prefetch
from partbench.errors import PartbenchError
from partbench.metrics.conventions import check_convention
from partbench.metrics.partseg import SampleScore
from partbench.methods_api import Vocabulary
from partbench.parallel import ProcessGroup, Shard, my_positions
from partbench.paths import AtomicLineWriter, CollectingWriter, atomic_write_json
from partbench.registry import MethodInfo, get_method
from partbench.scoring import finalize_prediction, new_scorer, results_document
from partbench.store import RunDir, cache_key
from partbench.suites import Suite, load_suite


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


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any] | None  # None on shards and on ranks other than 0: they write no results.json
    predicted: int
    cached: int
    note: str = ""


def run(req: RunRequest) -> RunOutcome:
    suite = load_suite(req.suite)
    info = get_method(req.method)
    if suite.task == "generation" and "generation" in info.kinds:
        from partbench.generation import run_generation  # issue 6: prompts -> images -> CLIP score

        return run_generation(req, suite, info)
    if suite.task not in ("part-semantic", "part-instance") or "segmentation" not in info.kinds:
        raise PartbenchError(f"Method {req.method!r} ({'/'.join(info.kinds)}) cannot run on suite {suite.name!r} "
                             f"({suite.task}).")
    group = ProcessGroup.from_env()
    try:
        return _run_segmentation(req, suite, info, group)
    finally:
        group.close()


def _run_segmentation(req: RunRequest, suite: Suite, info: MethodInfo, group: ProcessGroup) -> RunOutcome:
    from partbench.progress import progress_bar

    split = suite.check_split(req.split)
    convention = check_convention(req.convention or suite.convention)
    shard = Shard.parse(req.shard)
    if req.limit is not None and req.limit < 1:
        raise PartbenchError(f"--limit must be at least 1, got {req.limit}.")
    method_args = dict(req.method_args or {})

    reader = suite.make_reader(req.data_root)
    reader.check(split)
    index = reader.index(split)
    refs = index.refs[: req.limit] if req.limit else index.refs
    identity = {"method": req.method, "method_args": method_args, "suite": suite.name,
                "suite_version": suite.version, "split": split, "seed": req.seed}
    run_dir = RunDir.open(req.output_root, identity, force=req.force)
    vocabulary = Vocabulary.from_suite(suite)

    # The cache key needs the weights' fingerprint; methods compute it without loading a model when they can, so
    # a finished run loads nothing and predicts nothing.
    build_kwargs = {"suite": suite, "data_root": req.data_root, "args": method_args, "seed": req.seed}
    method, fingerprint = info.fingerprint(**build_kwargs)
    method_config = info.describe(**build_kwargs)
    meaningful = info.is_meaningful(method_args)
    if group.is_main:
        run_dir.write_config({"fingerprint": fingerprint, "method_config": method_config})
    needs_images = info.needs_images()

    positions = my_positions(len(refs), shard, group, req.batch_size)
    keys = {refs[i].id: cache_key(identity, fingerprint, refs[i].id) for i in positions}
    todo_ids = {i for i in keys if req.force or not run_dir.cached(i, keys[i])}
    run_dir.remove_stale_writes(set(keys))

    def load(position: int):
        sample = reader.load(refs[position])
        if needs_images and sample.id in todo_ids and sample.has_labels:
            sample.image  # decode in the worker thread, ahead of inference  # noqa: B018
        return position, sample

    scorer = new_scorer(suite)
    single = not group.distributed and shard.count == 1
    mine: list[SampleScore] = []  # sent to rank 0 when the work is split (numpy entries pickle compactly)
    empty = predicted = reused = 0
    with progress_bar(disable=not group.is_main) as bar, \
            (AtomicLineWriter(run_dir.samples_path) if single else CollectingWriter(mine)) as out:
        task = bar.add_task(f"{req.method} on {suite.name}/{split}", total=len(positions), note="")
        samples = prefetch(positions, load, workers=req.workers, depth=2 * req.batch_size)
        for batch in _batches(samples, req.batch_size):
            labelled = [(p, s) for p, s in batch if s.has_labels]
            empty += len(batch) - len(labelled)
            todo = [s for _, s in labelled if s.id in todo_ids]
            fresh = {}
            if todo:
                method = method or info.build(**build_kwargs)
                outputs = method.predict(todo, vocabulary)
                if len(outputs) != len(todo):
                    raise PartbenchError(
                        f"Method {req.method!r} returned {len(outputs)} predictions for {len(todo)} samples.")
                for s, raw in zip(todo, outputs):
                    pred = finalize_prediction(raw, s, vocabulary, f"method {req.method!r}, sample {s.id}")
                    run_dir.save_prediction(s.id, pred, suite.ignore_label, keys[s.id])
                    fresh[s.id] = pred
            for position, s in labelled:
                pred = fresh[s.id] if s.id in fresh else run_dir.load_prediction(s.id)
                score = scorer.update(position, s.id, pred, s.part_label_map,
                                      where=str(run_dir.prediction_path(s.id)), object_class=s.object_class)
                out.write(score.to_json() if single else score)
            predicted += len(fresh)
            reused += len(labelled) - len(fresh)
            bar.update(task, advance=len(batch), note=f"cached {reused}")
    counts = {"predicted": predicted, "cached": reused, "empty": empty}

    header = {"suite": suite.name, "split": split, "method": req.method, "method_args": method_args,
              "run_name": run_dir.path.name, "convention": convention, "meaningful": meaningful,
              "skipped": dict(index.skipped), "n_refs": len(refs),
              "extra": {"limit": req.limit, "seed": req.seed, "fingerprint": fingerprint,
                        "method_config": method_config}}
    if single:
        header["skipped"]["empty_ground_truth"] = empty
        results = finish(run_dir, suite, header, scorer, req.bootstrap)
        return RunOutcome(run_dir.path, results, counts["predicted"], counts["cached"])

    gathered = group.gather({"scores": mine, "counts": counts})
    if not group.is_main:
        return RunOutcome(run_dir.path, None, counts["predicted"], counts["cached"])
    all_scores = sorted((s for g in gathered for s in g["scores"]), key=lambda s: s.index)
    total = {k: sum(g["counts"][k] for g in gathered) for k in counts}
    if shard.count > 1:
        write_shard(run_dir, shard, header, [s.to_json() for s in all_scores], total["empty"])
        return RunOutcome(run_dir.path, None, total["predicted"], total["cached"],
                          note=f"shard {shard.index}/{shard.count} done; combine with `partbench merge {run_dir.path}`")
    scorer = new_scorer(suite)
    header["skipped"]["empty_ground_truth"] = total["empty"]
    with AtomicLineWriter(run_dir.samples_path) as out:
        for score in all_scores:
            scorer.add(score)
            out.write(score.to_json())
    results = finish(run_dir, suite, header, scorer, req.bootstrap)
    return RunOutcome(run_dir.path, results, total["predicted"], total["cached"])


def finish(run_dir: RunDir, suite: Suite, header: dict[str, Any], scorer, n_replicates: int) -> dict[str, Any]:
    """Compute and write results.json from a complete scorer."""
    results = results_document(
        suite=suite, split=header["split"], method=header["method"], method_args=header["method_args"],
        run_name=header["run_name"], convention=header["convention"], scorer=scorer, skipped=header["skipped"],
        meaningful=header["meaningful"], extra=header["extra"], n_replicates=n_replicates,
    )
    run_dir.write_results(results)
    return results


def write_shard(run_dir: RunDir, shard: Shard, header: dict[str, Any], rows: list[dict[str, Any]],
                empty: int) -> None:
    """A shard's rows and what `merge` needs to check and combine it; the metadata file is written last."""
    shards = run_dir.path / "shards"
    with AtomicLineWriter(shards / f"{shard.label}.jsonl") as out:
        for row in rows:
            out.write(row)
    atomic_write_json(shards / f"{shard.label}.json", header | {"shard": [shard.index, shard.count],
                                                               "n_rows": len(rows), "empty_ground_truth": empty})


def _batches(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
