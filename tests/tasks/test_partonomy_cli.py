"""Part reasoning end to end on the generated demo-partonomy suite: segmentation methods run teacher-forced (found
through `TaskKind.method_kinds`), the whole-image floor and the oracle run, `data verify`/`prepare` work, and `partbench
table` shows the runs with the (unverified) published Partonomy rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import invoke
from helpers.generated_suites import demo_derived_root, run_results

from partbench.errors import PartbenchError


@pytest.fixture(scope="module")
def reasoning_root(tmp_path_factory) -> Path:
    from partbench.data.demo_partonomy import generate_demo_partonomy

    return demo_derived_root(tmp_path_factory.mktemp("reasoning-data"), generate_demo_partonomy, n_images=4)


def _run(root: Path, method: str, *args) -> dict:
    return run_results(root, "demo-partonomy", method, *args, bootstrap=20)


def test_generated_suite_is_partonomy_shaped_and_verifies(reasoning_root):
    from partbench.data.demo_partonomy import generate_demo_partonomy

    qa = reasoning_root / "PartbenchDemoPartonomy" / "partonomy_qa_pairs.json"
    records = json.loads(qa.read_text())
    assert {r["question_type"] for r in records} >= {"identification_with_label", "positive_with_label",
                                                     "negative_with_label"}
    for r in records:
        assert r["answer_types"].count("correct") == 1 and len(r["answer_choices"]) == len(r["answer_parts"])
        correct = r["answer_parts"][r["answer_types"].index("correct")]
        assert correct == sorted(correct) and all(p in r["segmentations"] for p in correct)
    assert any(len(v) > 1 for r in records for v in r["segmentations"].values())  # several annotations per label
    before = qa.read_bytes()
    generate_demo_partonomy(reasoning_root, seed=0, n_images=4)
    assert qa.read_bytes() == before  # deterministic
    r = invoke("data", "verify", "demo-partonomy", "--data-root", reasoning_root)
    assert r.exit_code == 0 and "demo-partonomy: OK" in r.output, r.output


def test_methods_run_end_to_end(reasoning_root):
    oracle = _run(reasoning_root, "oracle")
    assert oracle["meaningful"] is False and oracle["task"] == "part-reasoning"
    assert all(v == 100.0 for v in oracle["metrics"].values())
    assert oracle["n_samples"] == json.loads((reasoning_root / "PartbenchDemoPartonomy" / "manifest.json")
                                             .read_text())["splits"]["val"]["samples"]
    floor = _run(reasoning_root, "whole-image")
    chance = _run(reasoning_root, "random")  # a segmentation method, teacher-forced
    assert 0 < floor["metrics"]["giou_macro"] < 20 and 0 < chance["metrics"]["giou_macro"] < 20
    assert chance["teacher_forcing"]["competitor"] == "background"
    assert set(chance["by_question_type"]) >= {"identification", "intersection", "difference"}
    again = invoke("run", "-m", "random", "-s", "demo-partonomy", "--data-root", reasoning_root, "--output", "runs",
                   "--bootstrap", "20")
    assert "reused" in again.output and "predicted 0" in again.output  # cached predictions are reused
    # A run's predictions folder scores to the same numbers through `partbench score`.
    r = invoke("score", "-s", "demo-partonomy", "-p", next(Path("runs/demo-partonomy").glob("random*/predictions")),
               "--data-root", reasoning_root, "-o", "rescored.json", "--bootstrap", "0")
    assert r.exit_code == 0, r.output
    assert json.loads(Path("rescored.json").read_text())["metrics"] == pytest.approx(chance["metrics"])
    bad = invoke("run", "-m", "random", "-s", "demo-partonomy", "--data-root", reasoning_root, "-a", "competitor=sky")
    assert bad.exit_code == 2 and "competitor must be one of" in bad.output


def test_table_shows_runs_with_published_rows(reasoning_root, tmp_path):
    # The demo folder is in the released layout, so `data prepare partonomy-core` takes it as a download.
    root = tmp_path / "core-root"
    r = invoke("data", "prepare", "partonomy-core", "--source", reasoning_root / "PartbenchDemoPartonomy",
               "--data-root", root)
    assert r.exit_code == 0, r.output
    r = invoke("run", "-m", "whole-image", "-s", "partonomy-core", "--data-root", root, "--bootstrap", "0")
    assert r.exit_code == 0, r.output
    r = invoke("table", "--format", "markdown", "--suite", "partonomy-core")
    assert r.exit_code == 0, r.output
    assert "ident. gIoU" in r.output and "whole-image" in r.output
    assert "Plum-13B (ft) (unverified)" in r.output and "41.6" in r.output and "third-party summary" in r.output


def test_segmentation_methods_are_found_for_part_reasoning():
    from partbench.registry import get_method

    assert get_method("random", "part-reasoning").factory.endswith("trivial:RandomParts")
    assert get_method("oracle", "part-reasoning").factory.endswith("reasoning_baselines:PartOracle")
    with pytest.raises(PartbenchError, match="cannot run"):
        get_method("whole-image", "segmentation")


def test_teacher_forcing_vocabulary_and_masks():
    from partbench.data.partonomy import PartonomyRecord, PartonomySample
    from partbench.data.types import SampleRef
    from partbench.tasks.teacher_forcing import TeacherForcing, part_masks, vocabulary_for

    record = PartonomyRecord(0, "images/x.jpg", "agricultural airplane", "Q?", "identification_with_label",
                             ("a", "b"), 0, ("agricultural airplane--part:spraying_rig", "wing"))
    gt = np.zeros((2, 2, 3), dtype=bool)
    gt[0, 0, 0] = gt[1, 1, 2] = True
    sample = PartonomySample(SampleRef("x", "x", Path("x.jpg")), record, gt)
    seg, vocab = vocabulary_for(sample, TeacherForcing("background+object"))
    assert vocab.classes == ("agricultural airplane's spraying rig", "agricultural airplane's wing", "background",
                             "agricultural airplane")
    assert vocab.allowed(seg) == (0, 1, 2, 3) and seg.object_mask.all()
    assert seg.part_label_map.tolist() == [[0, 2, 2], [2, 2, 1]]  # the oracle's view: parts, background elsewhere
    ids = np.array([[0, 2, 1], [3, 1, 1]])
    assert part_masks(ids, sample, 4, TeacherForcing(), "w").astype(int).tolist() == [
        [[1, 0, 0], [0, 0, 0]], [[0, 0, 1], [0, 1, 1]]]
    scores = np.zeros((4, 2, 3))
    scores[0] = 0.9
    scores[1, 0] = 0.8  # part 1 scores high on row 0 too: thresholded masks may overlap
    got = part_masks(scores, sample, 4, TeacherForcing(part_threshold=0.5), "w")
    assert got.sum(axis=(1, 2)).tolist() == [6, 3]
    with pytest.raises(PartbenchError, match="part_threshold needs CxHxW scores"):
        part_masks(ids, sample, 4, TeacherForcing(part_threshold=0.5), "w")
