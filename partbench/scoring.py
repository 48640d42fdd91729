"""What `run` and `score` share: turning a method's output into a scored prediction, and the results document."""

from __future__ import annotations

from typing import Any

import numpy as np

from partbench.data.types import Sample
from partbench.errors import PartbenchError
from partbench.metrics.partseg import ClassSpace, PartSegScorer, SampleScore
from partbench.methods_api import Vocabulary
from partbench.paths import AtomicLineWriter, CollectingWriter
from partbench.store import RESULTS_SCHEMA
from partbench.suites import Suite


def finalize_prediction(output: np.ndarray, sample: Sample, vocabulary: Vocabulary, where: str) -> np.ndarray:
    """An HxW class-id map ready to score.

    CxHxW scores are reduced by argmax over the classes the setting allows (oracle-object: the sample's object's
    parts, exact name match, protocol §4.2). In the oracle-object setting every pixel outside the object is then set
    to ignore, as the OV-PARTS evaluator does (§4.3): there the ground truth is ignored anyway.
    """
    output = np.asarray(output)
    h, w = sample.size
    if output.ndim == 3:
        if output.shape != (len(vocabulary.classes), h, w):
            raise PartbenchError(
                f"{where}: scores have shape {output.shape}; expected ({len(vocabulary.classes)}, {h}, {w}).")
        allowed = np.asarray(vocabulary.allowed(sample), dtype=np.int64)
        pred = allowed[np.argmax(output[allowed], axis=0)]
    elif output.ndim == 2:
        if output.shape != (h, w):
            raise PartbenchError(f"{where}: prediction is {output.shape[1]}x{output.shape[0]} (WxH); "
                                 f"the sample is {w}x{h}.")
        if not np.issubdtype(output.dtype, np.integer):
            raise PartbenchError(f"{where}: a class-id map must hold integers, got {output.dtype}.")
        pred = output.astype(np.int64)
    else:
        raise PartbenchError(f"{where}: expected an HxW class-id map or CxHxW scores, got shape {output.shape}.")
    if vocabulary.setting == "oracle-object":
        pred = np.where(sample.object_mask, pred, vocabulary.ignore_label)
    return pred


def new_scorer(suite: Suite) -> PartSegScorer:
    return PartSegScorer(ClassSpace.from_suite(suite))


def results_document(*, suite: Suite, split: str, method: str, method_args: dict[str, str], run_name: str,
                     convention: str, scorer: PartSegScorer, skipped: dict[str, int], meaningful: bool,
                     extra: dict[str, Any] | None = None, n_replicates: int = 1000) -> dict[str, Any]:
    """results.json (DESIGN §4): header, metrics in percent, intervals, per-class and per-pair detail, provenance."""
    from partbench.provenance import provenance

    computed = scorer.compute(convention, n_replicates=n_replicates)
    doc: dict[str, Any] = {
        "schema_version": RESULTS_SCHEMA,
        "suite": suite.name,
        "suite_version": suite.version,
        "split": split,
        "task": suite.task,
        "method": method,
        "method_args": method_args,
        "run_name": run_name,
        "convention": convention,
        "setting": suite.setting,
        "n_samples": len(scorer.samples),
        "n_skipped": skipped,
        "meaningful": meaningful,
    }
    doc |= extra or {}
    doc |= computed
    doc["provenance"] = provenance()
    return doc


def score_external(*, suite: Suite, data_root, predictions_path, split: str | None, convention: str | None,
                   name: str, samples_path, allow_missing: bool = False, n_replicates: int = 1000,
                   workers: int = 0) -> dict[str, Any] | None:
    """Score predictions made by any codebase (see `partbench.predictions`) with exactly the code `run` uses.

    Per-sample rows go to `samples_path`. Missing predictions are an error listing them, unless `allow_missing`, in
    which case each missing sample counts as predicting nothing (all its pixels are misses). Under `torchrun` each
    process scores samples `rank::world_size` and rank 0 returns the results (other ranks return None).
    """
    from partbench.data.prefetch import prefetch
    from partbench.metrics.conventions import check_convention
    from partbench.parallel import ProcessGroup, Shard, my_positions
    from partbench.predictions import open_predictions
    from partbench.progress import progress_bar

    split = suite.check_split(split)
    convention = check_convention(convention or suite.convention)
    reader = suite.make_reader(data_root)
    reader.check(split)
    index = reader.index(split)
    source = open_predictions(predictions_path, suite.num_classes, suite.ignore_label)
    missing = source.missing(index.refs)
    if missing and not allow_missing:
        shown = ", ".join(r.id for r in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise PartbenchError(f"{predictions_path}: {len(missing)} of {len(index.refs)} samples have no prediction "
                             f"({shown}). Use --allow-missing to score them as empty.")
    missing_ids = {r.id for r in missing}
    vocabulary = Vocabulary.from_suite(suite)

    def load(position: int):
        ref = index.refs[position]
        sample = reader.load(ref)
        if not sample.has_labels:
            return position, sample, None
        if ref.id in missing_ids:
            return position, sample, np.full(sample.size, suite.ignore_label, dtype=np.int64)
        return position, sample, source.load(ref)

    group = ProcessGroup.from_env()
    try:
        # Runs of consecutive samples keep an image's samples (and its decoded annotations) in one process.
        positions = my_positions(len(index.refs), Shard(0, 1), group, batch_size=16)
        scorer = new_scorer(suite)
        mine: list[SampleScore] = []  # sent to rank 0 under torchrun (numpy entries pickle compactly)
        empty = 0
        with progress_bar(disable=not group.is_main) as bar, \
                (AtomicLineWriter(samples_path) if not group.distributed else CollectingWriter(mine)) as out:
            task = bar.add_task(f"scoring {name} on {suite.name}/{split}", total=len(positions), note="")
            for position, sample, raw in prefetch(positions, load, workers=workers, depth=16):
                bar.advance(task)
                if raw is None:
                    empty += 1
                    continue
                where = source.describe(sample.ref)
                pred = finalize_prediction(raw, sample, vocabulary, where)
                score = scorer.update(position, sample.id, pred, sample.part_label_map, where=where,
                                      object_class=sample.object_class)
                out.write(score if group.distributed else score.to_json())
        if group.distributed:
            gathered = group.gather({"scores": mine, "empty": empty})
            if not group.is_main:
                return None
            scorer = new_scorer(suite)
            empty = sum(g["empty"] for g in gathered)
            with AtomicLineWriter(samples_path) as out:
                for score in sorted((s for g in gathered for s in g["scores"]), key=lambda s: s.index):
                    scorer.add(score)
                    out.write(score.to_json())
    finally:
        group.close()
    return results_document(
        suite=suite, split=split, method=f"imported:{name}", method_args={}, run_name=name, convention=convention,
        scorer=scorer, skipped=dict(index.skipped) | {"empty_ground_truth": empty}, meaningful=True,
        n_replicates=n_replicates, extra={"predictions": str(predictions_path), "n_missing_predictions": len(missing)},
    )
