"""Decode once, count once (issue 20) changed how segmentation samples are read and counted, not what they score.

The digests below were computed on `helpers/scoring_fixture.py`'s split by the implementation before that change
(commit 608c8f3: one decode per sample, `np.where` masking, one `confusion_counts` per sample), run from an unmodified
checkout; the tests recompute them with today's code. Independent checks beside them: the plain OV-PARTS
re-statement in `partbench/testing/ovparts_reference.py`, and per-sample `confusion_counts` over the very maps.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import scoring_fixture as fx

from partbench.data.images import read_label_png
from partbench.metrics.confusion import confusion_counts
from partbench.run import RunRequest, ScoreRequest, run, score
from partbench.tasks.segmentation import PartSegEvaluator
from partbench.testing.ovparts_reference import evaluate

# samples.jsonl bytes and results.json's point scores (`fx.scores_text`) of `partbench score` (bootstrap 50, allowing
# the missing image), before the change.
SCORE_ROWS = "8f3a63ab6b20097c0aa2db9f1e5f5f746ebe86857e2dd9e70eec508ab116886b"
SCORE_RESULTS = "3acbde05a59313d1506f41a32e727b368556f67287ae26d28f3d610655df75ad"
# `partbench run -m oracle` (bootstrap 50): rows without their row keys, scores, and the stored maps' pixels.
ORACLE = ("3a3be2b0a6e362d9ae07ba057b25ae30db83b4185bbda937939dbd3805f12d30",
          "bad48c801f161d88a3b8b01cc6ed2f4eff0c7aeff4226b3eb21ed18ca47fc552",
          "a6abda6466b499639444f91a203504588fcb6499090f13bed33e3ab9ebd24794")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _score(root: Path, predictions: Path, out: Path, workers: int = 0, processes: int = 1) -> dict:
    return score(ScoreRequest(suite="pascal-part-116", data_root=root, predictions=predictions, name="fx",
                              samples_path=out, allow_missing=True, bootstrap=50, workers=workers,
                              processes=processes))


@pytest.mark.parametrize(("workers", "processes"), [(0, 1), (2, 1), (0, 3)])
@pytest.mark.parametrize("counts_json", [False, True])
def test_score_gives_the_rows_and_results_recorded_before(tmp_path, monkeypatch, workers, processes, counts_json):
    # Processes share the split 3 samples at a time, so that each gets some and an image's samples are split.
    monkeypatch.setattr("partbench.run.loop.SCORE_BATCH", 3)
    predictions = fx.build(tmp_path / "data", counts_json=counts_json)
    doc = _score(tmp_path / "data", predictions, tmp_path / "samples.jsonl", workers, processes)
    assert _sha((tmp_path / "samples.jsonl").read_bytes()) == SCORE_ROWS
    assert _sha(fx.scores_text(doc).encode()) == SCORE_RESULTS
    assert doc["n_skipped"] == {"no_part_classes": 1, "empty_ground_truth": 1}
    # The intervals (whose method changes on its own schedule) are those of the rows read back.
    evaluator = PartSegEvaluator(fx.SUITE, "ovparts")
    for line in (tmp_path / "samples.jsonl").read_text().splitlines():
        evaluator.add(evaluator.decode(json.loads(line)))
    assert evaluator.evaluate(50)["ci95"] == doc["ci95"]


def test_oracle_run_gives_the_rows_results_and_maps_recorded_before(tmp_path):
    fx.build(tmp_path / "data")
    outcome = run(RunRequest(method="oracle", suite="pascal-part-116", data_root=tmp_path / "data",
                             output_root=tmp_path / "runs", bootstrap=50))
    lines = [json.loads(line) for line in (outcome.run_dir / "samples.jsonl").read_text().splitlines()]
    rows = "\n".join(json.dumps({k: v for k, v in r.items() if k != "row_key"}, sort_keys=True) for r in lines)
    maps = b"".join(p.name.encode() + np.ascontiguousarray(read_label_png(p)).tobytes()
                    for p in sorted((outcome.run_dir / "predictions").glob("*.png")))
    results = json.loads((outcome.run_dir / "results.json").read_text())
    assert (_sha(rows.encode()), _sha(fx.scores_text(results).encode()), _sha(maps)) == ORACLE


def test_rows_are_each_samples_own_confusion_counts(tmp_path):
    """Independent of the recorded digests: each row against `confusion_counts` of the sample's own ground truth
    and prediction, built here from the fixture's formulas. (The fixture predicts "nothing" on labelled pixels,
    which partbench charges and the official rule drops, so the reference evaluator is compared below instead.)"""
    predictions = fx.build(tmp_path / "data")
    _score(tmp_path / "data", predictions, tmp_path / "samples.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    expected = {}
    for k, image_id in enumerate(fx.IMAGES):
        part, obj = fx.maps(k, image_id)
        for name, _ in fx.IMAGES[image_id]:
            mask = obj == fx.OBJ[name]
            gt = np.where(mask, part, fx.IGNORE)
            if not (gt != fx.IGNORE).any():
                continue
            if image_id == fx.NO_PREDICTION:
                pred = np.full(gt.shape, fx.IGNORE)
            elif image_id == fx.PER_SAMPLE:
                pred = fx.prediction(k, part, [n for n, _ in fx.IMAGES[image_id]].index(name) + 1)
            else:
                pred = fx.prediction(k, part)
            conf = confusion_counts(np.where(mask, pred, fx.IGNORE), gt, fx.SUITE.num_classes, fx.IGNORE)
            p, g = np.nonzero(conf)
            expected[f"{image_id}__{name}"] = np.stack([p, g, conf[p, g]], axis=1).tolist()
    assert {r["id"]: r["conf"] for r in rows} == expected
    assert [r["index"] for r in rows] == sorted(r["index"] for r in rows)



def test_random_run_scores_its_own_maps_as_the_reference_does(tmp_path):
    """A method's int64 maps (not 8-bit PNGs) take the other counting path; `random` predicts a class on every
    object pixel, where the official rule and partbench's agree."""
    fx.build(tmp_path / "data")
    outcome = run(RunRequest(method="random", suite="pascal-part-116", data_root=tmp_path / "data",
                             output_root=tmp_path / "runs", bootstrap=0))
    reference = evaluate(tmp_path / "data/PascalPart116", "val", outcome.run_dir / "predictions",
                         list(fx.SUITE.classes), list(fx.SUITE.object_classes), set(fx.SUITE.unseen_objects))
    ours = json.loads((outcome.run_dir / "results.json").read_text())["metrics"]
    for key in ("seen_miou", "unseen_miou", "miou", "h_iou"):
        assert ours[key] == pytest.approx(reference[key], abs=1e-9), key


@pytest.mark.parametrize("workers", [0, 2])
def test_each_file_is_decoded_at_most_once(tmp_path, monkeypatch, workers):
    """Per-image predictions shared by the image's samples, annotation maps shared by them too: one decode per file,
    loader threads included. (Without the object-count JSON, a first scoring's index decodes object maps too; with
    it, or once the index is cached, nothing else does.)"""
    from partbench.data import ovparts
    from partbench.tasks import imported_maps

    predictions = fx.build(tmp_path / "data", counts_json=True)
    decoded: list[str] = []
    for module in (ovparts, imported_maps):
        real = module.read_label_png
        monkeypatch.setattr(module, "read_label_png", lambda path, real=real: decoded.append(str(path)) or real(path))
    _score(tmp_path / "data", predictions, tmp_path / "samples.jsonl", workers)
    assert decoded and len(decoded) == len(set(decoded)), sorted(decoded)
    names = sorted(Path(p).relative_to(tmp_path / "data").as_posix() for p in decoded)
    images = [i for i in fx.IMAGES if i != fx.NO_PREDICTION]
    per_sample = [f"predictions/{fx.PER_SAMPLE}__{name}.png" for name, _ in fx.IMAGES[fx.PER_SAMPLE]]
    assert names == sorted(
        [f"PascalPart116/{d}/val/{i}.png" for d in ("annotations_detectron2_part", "annotations_detectron2_obj")
         for i in fx.IMAGES]
        + [f"predictions/{i}.png" for i in images if i != fx.PER_SAMPLE] + per_sample)


def _before(output, sample, vocabulary):
    """`finalize_prediction`'s values before the change: int64, then `np.where` over the union object mask."""
    output = np.asarray(output)
    if output.ndim == 3:
        allowed = np.asarray(vocabulary.allowed(sample), dtype=np.int64)
        pred = allowed[np.argmax(output[allowed], axis=0)]
    else:
        pred = output.astype(np.int64)
    if vocabulary.setting == "oracle-object":
        pred = np.where(sample.object_mask, pred, vocabulary.ignore_label)
    return pred


@pytest.mark.parametrize("setting", ["oracle-object", "open-vocabulary"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.uint64, "scores"])
@pytest.mark.parametrize("n_objects", [1, 2])
def test_finalize_keeps_the_values_it_gave_before(dtype, setting, n_objects):
    from dataclasses import replace

    from partbench.api.types import Vocabulary
    from partbench.data.types import ObjectAnnotation, Sample, SampleRef
    from partbench.tasks.segmentation import finalize_prediction

    rng = np.random.default_rng(0)
    vocabulary = replace(Vocabulary.from_suite(fx.SUITE), setting=setting)
    masks = [rng.random((5, 7)) < 0.5 for _ in range(n_objects)]
    sample = Sample(SampleRef("i__dog", "i", Path("i.jpg"), "dog"),
                    [ObjectAnnotation("dog", m) for m in masks], np.zeros((5, 7), np.uint8), fx.IGNORE)
    if dtype == "scores":
        output = rng.random((fx.SUITE.num_classes, 5, 7))
    else:
        info = np.iinfo(dtype)
        output = rng.integers(max(info.min, -3), min(info.max, 2**40), (5, 7), dtype=dtype, endpoint=True)
        output[0, :3] = [info.max, fx.IGNORE if info.max >= fx.IGNORE else 0, max(info.min, -1)]
    got = finalize_prediction(output, sample, vocabulary, "w")
    expected = _before(output, sample, vocabulary)
    assert got.shape == expected.shape and np.array_equal(got.astype(np.int64), expected)
    assert got is not output and not np.shares_memory(got, output)
