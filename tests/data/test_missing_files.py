"""A file a sample is read from that is missing, for each segmentation and reasoning reader: `run` and `score` refuse
the data root up front, naming the file, with nothing written; with --allow-incomplete-data the sample(s) that need it
are left out of the index and counted (`n_skipped.missing_files`), the rest are scored, and results.json says the data
is incomplete; once the file is back (the per-data-root index cache seeing it), the next run has every sample again
and says the data is complete."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import scoring_fixture
from helpers.cli import invoke
from helpers.datasets import build_ade, build_partimagenet, build_pascal_part

from partbench.suites import SUITES_DIR, load_suite


def _demo(root: Path, demo_root: Path) -> None:
    shutil.copytree(demo_root, root)


def _pascal_part(root: Path, demo_root: Path) -> None:
    build_pascal_part(root, load_suite("pascal-part"))
    # The fixture lists an image that has neither JPEG nor .mat; complete data here.
    (root / "VOCdevkit/VOC2010/ImageSets/Main/val.txt").write_text("2008_000001\n2008_000002\n2008_000003\n")


def _partimagenet(root: Path, demo_root: Path) -> None:
    suite = load_suite("partimagenet")
    build_partimagenet(root, suite, json.loads((SUITES_DIR / "classes" / suite.reader_args["class_spec"]).read_text()))


def _partonomy(root: Path, demo_root: Path) -> None:
    from partbench.data.demo_partonomy import generate_demo_partonomy

    shutil.copytree(demo_root, root)
    generate_demo_partonomy(root, n_images=4)


@dataclass(frozen=True)
class Case:
    suite: str
    build: Callable[[Path, Path], None]
    missing: str  # relative to the data root
    image: str  # the image whose samples need the file (sample ids start with it)
    per_sample: bool = False  # missing_files counts samples (records), not images

    def __str__(self) -> str:
        return f"{self.suite}:{Path(self.missing).parent.parent.name}"


CASES = [
    Case("demo", _demo, "PartbenchDemo/images/val/demo_val_0005.jpg", "demo_val_0005"),
    Case("demo", _demo, "PartbenchDemo/annotations_detectron2_obj/val/demo_val_0005.png", "demo_val_0005"),
    # No object-count JSON: the index reads object maps itself.
    Case("pascal-part-116", lambda root, _: scoring_fixture.build(root, counts_json=False),
         "PascalPart116/annotations_detectron2_obj/val/2008_000001.png", "2008_000001"),
    Case("pascal-part", _pascal_part, "VOCdevkit/VOC2010/JPEGImages/2008_000002.jpg", "2008_000002"),
    Case("ade20k-part-234", lambda root, _: build_ade(root, load_suite("ade20k-part-234")),
         "ADE20KPart234/images/validation/ADE_val_00000001.jpg", "ADE_val_00000001"),
    Case("ade20k-part-234", lambda root, _: build_ade(root, load_suite("ade20k-part-234")),
         "ADE20KPart234/annotations_detectron2_part/validation/ADE_val_00000001.png", "ADE_val_00000001"),
    Case("partimagenet", _partimagenet, "PartImageNet/images/val/n04552348_2.JPEG", "n04552348_2"),
    Case("demo-partonomy", _partonomy, "PartbenchDemoPartonomy/images/demo_val_0001.jpg", "demo_val_0001",
         per_sample=True),
]


def _ids(rows: Path) -> set[str]:
    return {json.loads(line)["id"] for line in rows.read_text().splitlines()}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_missing_file_is_refused_named_or_left_out_and_comes_back(case, tmp_path, demo_root):
    root = tmp_path / "data"
    case.build(root, demo_root)
    run = ("run", "-m", "oracle", "-s", case.suite, "--data-root", root, "--output", "runs", "--bootstrap", "0")
    runs = Path("runs") / case.suite
    first = invoke(*run)
    assert first.exit_code == 0, first.output
    complete = json.loads((runs / "oracle/results.json").read_text())
    assert complete["data"]["complete"] is True and "missing_files" not in complete["n_skipped"]
    every = _ids(runs / "oracle/samples.jsonl")
    lost = {i for i in every if i.split("__")[0] == case.image}
    assert lost and lost != every

    missing = root / case.missing
    content = missing.read_bytes()
    missing.unlink()
    predictions = runs / "oracle/predictions"
    # --allow-missing: a sample with empty ground truth has no oracle prediction (the rest all do).
    score = ("score", "-s", case.suite, "-p", predictions, "--data-root", root, "--bootstrap", "0", "-o", "scored.json",
             "--allow-missing")
    for refused in (invoke(*run), invoke(*score)):
        assert refused.exit_code == 2 and f"{missing}: missing" in refused.output, refused.output
        assert "--allow-incomplete-data" in refused.output and "Traceback" not in refused.output
    assert [p.name for p in runs.iterdir()] == ["oracle"] and not Path("scored.json").exists()

    allowed = invoke(*run, "--allow-incomplete-data")
    assert allowed.exit_code == 0, allowed.output
    (incomplete,) = runs.glob("oracle@*")  # its own folder, as any run on incomplete data
    results = json.loads((incomplete / "results.json").read_text())
    assert results["data"]["complete"] is False
    assert any(p.startswith(f"{missing}: missing") for p in results["data"]["problems"]), results["data"]
    assert _ids(incomplete / "samples.jsonl") == every - lost
    assert results["n_skipped"]["missing_files"] == (len(lost) if case.per_sample else 1)
    assert f"{results['n_skipped']['missing_files']} left out for missing files" in allowed.output
    assert results["n_samples"] == complete["n_samples"] - len(lost)
    scored = invoke(*score, "--allow-incomplete-data")
    assert scored.exit_code == 0, scored.output
    rescored = json.loads(Path("scored.json").read_text())
    assert rescored["data"]["complete"] is False and rescored["n_samples"] == results["n_samples"]
    assert rescored["n_skipped"] == results["n_skipped"] and rescored["metrics"] == results["metrics"]

    missing.write_bytes(content)  # restored: the cached index sees the file again
    again = invoke(*run)
    assert again.exit_code == 0, again.output
    assert "predicted 0," in again.output  # the complete run's predictions, all reused
    restored = json.loads((runs / "oracle/results.json").read_text())
    assert restored["data"]["complete"] is True and "missing_files" not in restored["n_skipped"]
    assert _ids(runs / "oracle/samples.jsonl") == every
    assert restored["n_samples"] == complete["n_samples"] and restored["metrics"] == complete["metrics"]


@pytest.mark.parametrize("missing", ["images/train/demo_train_0001.jpg",
                                     "annotations_detectron2_obj/train/demo_train_0001.png"])
def test_the_files_a_fit_reads_follow_the_index(missing, tmp_path, demo_root):
    """Methods fitted on a split (spatial-prior) fingerprint its `annotation_files`: an image the index leaves out for
    a missing file is left out of them too, so a fit without it has another fingerprint (and a missing object map is
    never stat-ed)."""
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    suite = load_suite("demo")
    full = suite.make_reader(root).annotation_files("train")
    (root / "PartbenchDemo" / missing).unlink()
    reader = suite.make_reader(root)
    assert reader.annotation_files("train") == [p for p in full if p.stem != "demo_train_0001"] != full
    assert "demo_train_0001" not in {r.image_id for r in reader.index("train").refs}
