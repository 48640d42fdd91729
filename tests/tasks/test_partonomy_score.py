"""`partbench score --suite partonomy-core` on a fixture in the released layout, with predictions in Partonomy's own
JSON format and in the plain mask-folder form: every metric and question type agrees with hand-worked numbers and
with an independent re-statement of the upstream evaluator (tests/helpers/partonomy_reference.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import partonomy_reference as upstream
from helpers.cli import invoke
from PIL import Image


def rle(mask) -> dict:
    from pycocotools import mask as mask_utils

    r = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def row(*pixels_per_mask: set[int], width: int) -> np.ndarray:
    out = np.zeros((len(pixels_per_mask), 1, width), dtype=np.uint8)
    for k, pixels in enumerate(pixels_per_mask):
        out[k, 0, sorted(pixels)] = 1
    return out


# Four records (hand-worked in tests/metrics/test_giou.py, same masks): ground truth, predictions, type, MC choice.
GT = {
    "a": row({0, 1}, {2}, {3}, width=4),  # annotations: OR of two RLEs, uncompressed RLE, polygon
    "b": row({0, 1}, {2}, width=3),
    "c": row(set(), width=4),
    "d": row({0}, width=2),
}
PRED = {"a": row({0}, {2, 3}, width=4), "b": row({0, 1, 2}, {0}, width=3), "c": row(set(), width=4),
        "d": np.zeros((0, 1, 2), dtype=np.uint8)}
TYPES = {"a": "identification_with_label", "b": "identification_with_label", "c": "negative_with_label",
         "d": "positive_with_label"}


def _segmentations(key: str) -> dict:
    labels = [f"thing--part:{key}{k}" for k in range(len(GT[key]))]
    segs = {label: [rle(m)] for label, m in zip(labels, GT[key])}
    if key == "a":
        segs[labels[0]] = [rle([[1, 0, 0, 0]]), {"segmentation": rle([[0, 1, 0, 0]])}]
        segs[labels[1]] = [{"size": [1, 4], "counts": [2, 1, 1]}]
        segs[labels[2]] = [{"size": [1, 4], "polygon": [3, 0, 4, 0, 4, 1, 3, 1]}]
    return segs


def _record(key: str) -> dict:
    labels = [f"thing--part:{key}{k}" for k in range(len(GT[key]))]
    return {"image_path": f"images/{key}.png", "image_label": "thing", "question": f"What about {key}?",
            "question_type": TYPES[key], "answer_choices": ["wrong answer", f"answer {key}"],
            "answer_types": ["incorrect", "correct"], "answer_parts": [["thing--part:zz"], labels],
            "segmentations": _segmentations(key)}


@pytest.fixture
def dataset(tmp_path) -> Path:
    folder = tmp_path / "data" / "partonomy-core"
    (folder / "images").mkdir(parents=True)
    for key, masks in GT.items():
        Image.new("RGB", (masks.shape[2], masks.shape[1]), (90, 90, 90)).save(folder / "images" / f"{key}.png")
    skipped = _record("a") | {"answer_parts": [["thing--part:zz"], ["thing--part:unannotated"]]}
    (folder / "partonomy_qa_pairs.json").write_text(json.dumps([_record(k) for k in GT] + [skipped]))
    return tmp_path / "data"


def partonomy_predictions(path: Path) -> Path:
    """Partonomy's `Predictions.to_dict` form, image paths as written on another machine."""
    chosen = {"a": "answer a", "b": "wrong answer"}
    entries = [{"image_path": f"/cluster/partonomy/images/{k}.png", "question_type": TYPES[k],
                "questions": [f"What about {k}?"], "gt_parts": [f"thing--part:{k}{i}" for i in range(len(GT[k]))],
                "predicted_masks": [rle(m) | {"label": "x"} for m in PRED[k]],
                "predicted_parts_answer": chosen.get(k), "metrics": {}} for k in GT]
    path.write_text(json.dumps({"metrics": {"mask_macro": {}}, "predictions": entries[::-1]}))
    return path


def score(data_root: Path, predictions: Path, *args) -> dict:
    out = predictions.parent / f"{predictions.stem}-{'-'.join(map(str, args)) or 'default'}.json"
    r = invoke("score", "--suite", "partonomy-core", "--predictions", predictions, "--data-root", data_root,
               "--output", out, "--bootstrap", "50", *args)
    assert r.exit_code == 0, r.output
    return json.loads(out.read_text())


def test_partonomy_json_scores_as_hand_worked_and_upstream(dataset, tmp_path):
    doc = score(dataset, partonomy_predictions(tmp_path / "plum.json"))
    m = doc["metrics"]
    assert doc["convention"] == "partonomy" and doc["matching"] == "paired" and doc["setting"] == "teacher-forced"
    assert doc["n_samples"] == 3 and doc["n_without_masks"] == 1
    assert doc["n_skipped"]["part_without_annotation"] == 1
    assert m["giou_macro"] == pytest.approx(100 * 11 / 18, abs=0.01)
    assert m["giou_micro"] == pytest.approx(100 * (8 / 3) / 5, abs=0.01)
    assert m["ciou"] == pytest.approx(100 * 4 / 9, abs=0.01)
    assert m["mc_accuracy"] == pytest.approx(50.0)
    by = doc["by_question_type"]
    assert by["identification"]["giou_macro"] == pytest.approx(100 * 5 / 12, abs=0.01)
    assert by["difference"]["giou_macro"] == pytest.approx(100.0) and by["difference"]["ciou"] is None
    assert by["intersection"]["n_samples"] == 0 and by["intersection"]["giou_macro"] is None
    # Every matching mode and question type against the re-statement of upstream's evaluator.
    for mode in ("paired", "greedy", "hungarian", "union"):
        for qtype, keys in (("identification", "ab"), ("difference", "c"), (None, "abcd")):
            theirs = upstream.evaluate([(PRED[k].astype(bool), GT[k].astype(bool)) for k in keys if len(PRED[k])],
                                       mode)
            ours = doc["by_matching"][mode] if qtype is None else doc["by_matching"][mode]["by_question_type"][qtype]
            assert ours["giou_macro"] == pytest.approx(theirs["giou_macro"], abs=0.01), (mode, qtype)
            assert ours["giou_micro"] == pytest.approx(theirs["giou_micro"], abs=0.01), (mode, qtype)


def test_strict_convention_scores_missing_masks_zero(dataset, tmp_path):
    doc = score(dataset, partonomy_predictions(tmp_path / "plum.json"), "--convention", "strict")
    assert doc["convention"] == "strict" and doc["n_samples"] == 4
    assert doc["metrics"]["giou_macro"] == pytest.approx(100 * (1 / 3 + 1 / 3 + 1 + 0) / 4, abs=0.01)
    assert doc["metrics"]["giou_micro"] == pytest.approx(100 * (8 / 3) / 7, abs=0.01)
    assert doc["metrics"]["ciou"] == pytest.approx(100 * 4 / 11, abs=0.01)
    assert doc["by_question_type"]["intersection"]["giou_macro"] == 0.0


def test_mask_folder_form(dataset, tmp_path):
    folder = tmp_path / "masks"
    ids = {k: f"{k}__{TYPES[k]}" for k in GT}  # <image path without images/ and extension>__<question_type>
    for key, masks in PRED.items():
        (folder / ids[key]).mkdir(parents=True)
        for i, m in enumerate(masks):
            Image.fromarray(m * 255).save(folder / ids[key] / f"{i}.png")
    r = invoke("score", "--suite", "partonomy-core", "--predictions", folder, "--data-root", dataset,
               "--output", tmp_path / "f.json", "--bootstrap", "0")
    assert r.exit_code != 0 and "have no prediction" in r.output  # d has no mask file: missing unless allowed
    doc = score(dataset, folder, "--allow-missing")
    assert doc["metrics"]["giou_macro"] == pytest.approx(100 * 11 / 18, abs=0.01)
    assert "mc_accuracy" not in doc["metrics"]


@pytest.mark.parametrize("change, message", [
    (lambda entries: entries.append(copy.deepcopy(entries[0])), "already matched"),
    (lambda entries: entries[0].update(gt_parts=["thing--part:b1", "thing--part:b0"]), "differ from record"),
    (lambda entries: entries[0].update(question_type="positive"), "no prediction"),  # a's record left unmatched
    (lambda entries: entries[0]["predicted_masks"].append({"size": [1, 2], "counts": "garbage"}), "malformed"),
])
def test_bad_predictions_are_refused_by_entry(dataset, tmp_path, change, message):
    path = partonomy_predictions(tmp_path / "plum.json")
    doc = json.loads(path.read_text())
    change(doc["predictions"])
    path.write_text(json.dumps(doc))
    r = invoke("score", "--suite", "partonomy-core", "--predictions", path, "--data-root", dataset,
               "--output", tmp_path / "x.json", "--bootstrap", "0")
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output


def test_ambiguous_match_is_refused(dataset, tmp_path):
    qa = dataset / "partonomy-core" / "partonomy_qa_pairs.json"
    records = json.loads(qa.read_text())
    records.append(copy.deepcopy(records[1]))  # same image, type, question and parts as b: indistinguishable
    qa.write_text(json.dumps(records))
    r = invoke("score", "--suite", "partonomy-core", "--predictions", partonomy_predictions(tmp_path / "p.json"),
               "--data-root", dataset, "--output", tmp_path / "x.json", "--bootstrap", "0")
    assert r.exit_code == 2 and "cannot tell which it answers" in r.output, r.output
