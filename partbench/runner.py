"""The run loop: predict every sample (reusing cached predictions), score, write the run directory.

Prediction and scoring share one pass: a sample's prediction is scored right after it is made or read back from the
cache, so memory holds one batch of images at a time. Every number is recomputed from the stored predictions in
suite order, which makes an interrupted-and-resumed run's metrics identical to an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError
from partbench.metrics.conventions import check_convention
from partbench.methods_api import Vocabulary
from partbench.paths import AtomicLineWriter
from partbench.registry import get_method
from partbench.scoring import finalize_prediction, new_scorer, results_document
from partbench.store import RunDir, cache_key
from partbench.suites import load_suite


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


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any]
    predicted: int
    cached: int


def run(req: RunRequest) -> RunOutcome:
    from partbench.progress import progress_bar

    suite = load_suite(req.suite)
    info = get_method(req.method)
    if suite.task == "generation" and "generation" in info.kinds:
        from partbench.generation import run_generation  # issue 6: prompts -> images -> CLIP score

        return run_generation(req, suite, info)
    if suite.task not in ("part-semantic", "part-instance") or "segmentation" not in info.kinds:
        raise PartbenchError(f"Method {req.method!r} ({'/'.join(info.kinds)}) cannot run on suite {suite.name!r} "
                             f"({suite.task}).")
    split = suite.check_split(req.split)
    convention = check_convention(req.convention or suite.convention)
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
    run_dir.write_config({"fingerprint": fingerprint, "method_config": method_config})
    scorer = new_scorer(suite)
    skipped = dict(index.skipped)
    predicted = cached = 0

    with progress_bar() as bar, AtomicLineWriter(run_dir.samples_path) as rows:
        task = bar.add_task(f"{req.method} on {suite.name}/{split}", total=len(refs), note="")
        for start in range(0, len(refs), req.batch_size):
            loaded = list(enumerate((reader.load(r) for r in refs[start:start + req.batch_size]), start))
            batch = [s for _, s in loaded if s.has_labels]
            position = {s.id: i for i, s in loaded}
            skipped["empty_ground_truth"] += len(loaded) - len(batch)
            keys = {s.id: cache_key(identity, fingerprint, s.id) for s in batch}
            todo = [s for s in batch if req.force or not run_dir.cached(s.id, keys[s.id])]
            fresh = {}
            if todo:
                method = method or info.build(**build_kwargs)
                outputs = method.predict(todo, vocabulary)
                if len(outputs) != len(todo):
                    raise PartbenchError(
                        f"Method {req.method!r} returned {len(outputs)} predictions for {len(todo)} samples.")
                for s, out in zip(todo, outputs):
                    pred = finalize_prediction(out, s, vocabulary, f"method {req.method!r}, sample {s.id}")
                    run_dir.save_prediction(s.id, pred, suite.ignore_label, keys[s.id])
                    fresh[s.id] = pred
            for s in batch:
                pred = fresh[s.id] if s.id in fresh else run_dir.load_prediction(s.id)
                score = scorer.update(position[s.id], s.id, pred, s.part_label_map,
                                      where=str(run_dir.prediction_path(s.id)))
                rows.write(score.to_json() | {"object": s.object_class})
            predicted += len(fresh)
            cached += len(batch) - len(fresh)
            bar.update(task, advance=len(loaded), note=f"cached {cached}")

    results = results_document(
        suite=suite, split=split, method=req.method, method_args=method_args, run_name=run_dir.path.name,
        convention=convention, scorer=scorer, skipped=skipped, meaningful=meaningful,
        extra={"limit": req.limit, "seed": req.seed, "fingerprint": fingerprint, "method_config": method_config},
        n_replicates=req.bootstrap,
    )
    run_dir.write_results(results)
    return RunOutcome(run_dir=run_dir.path, results=results, predicted=predicted, cached=cached)
