"""Every registered method keeps the method contract (tests generated from the registry, as timm does over
`list_models()`): it builds with weight-free or tiny settings, its fingerprint is stable and the same with or without
a model, it describes itself as JSON, says whether its numbers are results, answers one output per input in the
task kind's shape, and closes. A new built-in method without a case here fails `test_every_method_has_a_case`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from partbench.api.method import close_method
from partbench.registry import METHODS
from partbench.suites import load_suite

torch = pytest.importorskip("torch")


def _tiny_partconcepts(tmp: Path, data_root: Path) -> dict[str, str]:
    from partbench.methods.partconcepts.presets import PartConceptsConfig
    from partbench.methods.partconcepts.train import TrainOptions, train

    out = tmp / "pc"
    train(TrainOptions(suite="demo", data_root=data_root, output=out, steps=1, batch_size=2, device="cpu",
                       model=PartConceptsConfig.for_preset("tiny", resolution=32)))
    return {"checkpoint": str(out)}


def _saved_maps(tmp: Path, data_root: Path) -> dict[str, str]:
    """Another codebase's saved predictions (import mode): the ground truth written as PNG maps."""
    from PIL import Image

    suite = load_suite("demo")
    reader = suite.make_reader(data_root)
    folder = tmp / "maps"
    folder.mkdir()
    for ref in reader.index("val").refs:
        Image.fromarray(reader.load(ref).part_label_map.astype(np.uint8)).save(folder / f"{ref.id}.png")
    return {"predictions": str(folder)}


def _stand_in_checkout(tmp: Path, data_root: Path) -> dict[str, str]:
    """Runner mode: partbench's worker driving a stand-in codebase checkout (tests/fixtures/external/stand_in)."""
    import shutil
    import sys

    repo = tmp / "checkout"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "external" / "stand_in", repo)
    return {"repo": str(repo), "python": sys.executable, "checkpoint": str(repo / "model.pth"),
            "driver": "fake_codebase:predict"}


def _image_folder(tmp: Path, data_root: Path) -> dict[str, str]:
    from PIL import Image

    from partbench.data.prompts import load_prompts

    folder = tmp / "images"
    for prompt in load_prompts(load_suite("demo-t2i")):
        (folder / prompt.id).mkdir(parents=True)
        Image.new("RGB", (16, 16), (40, 80, 120)).save(folder / prompt.id / "0.png")
    return {"path": str(folder)}


def _edit_folder(tmp: Path, data_root: Path) -> dict[str, str]:
    """Edits made elsewhere: each demo-edit source copied to <sample id>/0.png."""
    import shutil

    reader = load_suite("demo-edit").make_reader(data_root)
    for ref in reader.index("val").refs:
        (tmp / "edits" / ref.id).mkdir(parents=True)
        shutil.copyfile(ref.image_path, tmp / "edits" / ref.id / "0.png")
    return {"path": str(tmp / "edits")}


# (task kind, method, its arguments or a function of (tmp folder, data root) making them); a method may have several.
CASES = [
    ("segmentation", "oracle", {}),
    ("segmentation", "random", {}),
    ("segmentation", "spatial-prior", {"grid": "4"}),
    ("segmentation", "clipseg", {"preset": "tiny"}),
    ("segmentation", "conceptattention", {"preset": "tiny"}),
    ("segmentation", "conceptattention", {"preset": "tiny", "model": "flux2"}),
    ("segmentation", "conceptattention", {"preset": "tiny", "recipe": "multiclass"}),
    ("segmentation", "seg4diff", {"preset": "tiny"}),
    ("segmentation", "seg4diff", {"preset": "tiny", "model": "sd35", "prompt": "gt-present"}),
    ("segmentation", "seg4diff", {"preset": "tiny", "model": "flux"}),
    ("segmentation", "partcatseg", _saved_maps),
    ("segmentation", "partcatseg", _stand_in_checkout),
    ("segmentation", "langhops", _saved_maps),
    ("segmentation", "langhops", _stand_in_checkout),
    ("segmentation", "partconcepts", _tiny_partconcepts),
    ("generation", "image-folder", _image_folder),
    ("generation", "flux1-dev", {"preset": "tiny"}),
    ("generation", "flux2-klein", {"preset": "tiny"}),
    ("generation", "partconcepts", _tiny_partconcepts),
    ("part-reasoning", "oracle", {}),
    ("part-reasoning", "whole-image", {}),
    ("part-editing", "identity", {}),
    ("part-editing", "oracle", {}),
    ("part-editing", "partedit-outputs", {}),
    ("part-editing", "image-folder", _edit_folder),
    ("part-editing", "instruct-pix2pix", {"preset": "tiny", "instruction": "random"}),
    ("part-editing", "sdxl-inpaint", {"preset": "tiny", "keep_background": "true"}),
    ("part-editing", "partconcepts-edit", _tiny_partconcepts),
]
SUITES = {"segmentation": "demo", "generation": "demo-t2i", "part-reasoning": "demo-partonomy",
          "part-editing": "demo-edit"}
SUITE_OF = {("part-editing", "partedit-outputs"): "partedit-synth"}  # a method that only that suite's data serves


def _case_id(case) -> str:
    kind, name, args = case
    how = args.__name__.strip("_") if callable(args) else ",".join(f"{k}={v}" for k, v in args.items())
    return f"{kind}-{name}" + (f"-{how}" if how else "")


def test_every_method_has_a_case():
    assert sorted(METHODS.keys()) == sorted({(kind, name) for kind, name, _ in CASES})


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from partbench.data.demo import generate_demo

    root = tmp_path_factory.mktemp("contract-data")
    generate_demo(root / "PartbenchDemo", seed=0, n_train=6, n_val=3)
    from partbench.data.demo_partonomy import generate_demo_partonomy

    generate_demo_partonomy(root, seed=0, n_images=2)  # the part-reasoning suite, from those val images
    from partbench.data.demo_edit import generate_demo_edit

    generate_demo_edit(root, seed=0, n_images=2)  # the part-editing suite, from those val images
    if importlib.util.find_spec("pyarrow") is not None:  # PartEdit-Bench, prepared from a release-shaped fixture
        from helpers.partedit_release import build_release

        from partbench.data.prepare import prepare

        build_release(root / "partedit-download", n_synth=2, n_real=1)
        prepare("partedit", root / "partedit-download", root, progress=False)
    return root


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_method_contract(case, data_root, tmp_path):
    kind, name, args = case
    info = METHODS.get((kind, name))
    suite = load_suite(SUITE_OF.get((kind, name), SUITES[kind]))
    if suite.name == "partedit-synth":
        pytest.importorskip("pyarrow")
    args = args(tmp_path, data_root) if callable(args) else dict(args)
    kwargs = {"suite": suite, "data_root": data_root, "args": args, "seed": 0}

    info.check_args(args)
    described = info.describe(**kwargs)
    json.dumps(described)
    assert isinstance(info.is_meaningful(args), bool)
    _, fingerprint = info.fingerprint(**kwargs)
    method = info.build(**kwargs)
    try:
        assert method.fingerprint() == fingerprint == info.fingerprint(**kwargs)[1]
        assert isinstance(fingerprint, str) and fingerprint
        if kind == "part-reasoning":
            _check_part_reasoning(method, suite, data_root)
        elif kind == "part-editing":
            _check_part_editing(method, suite, data_root)
        elif kind == "segmentation":
            _check_segmentation(method, suite, data_root)
        else:
            _check_generation(method, suite)
    finally:
        close_method(method)


def _check_segmentation(method, suite, data_root: Path) -> None:
    from partbench.api.types import Vocabulary

    reader = suite.make_reader(data_root)
    samples = [s for s in map(reader.load, reader.index("val").refs) if s.has_labels][:2]
    outputs = method.predict(samples, Vocabulary.from_suite(suite))
    assert len(outputs) == len(samples)
    for sample, out in zip(samples, outputs):
        out = np.asarray(out)
        assert out.shape in (sample.size, (suite.num_classes, *sample.size))


def _check_generation(method, suite) -> None:
    from PIL.Image import Image

    from partbench.data.prompts import load_prompts
    from partbench.tasks.generation import image_seed

    prompts = load_prompts(suite)[:2]
    images = method.generate(prompts, [image_seed(0, p.id, 0) for p in prompts])  # seeds a run would use
    assert len(images) == 2 and all(isinstance(im, Image) for im in images)


def _check_part_reasoning(method, suite, data_root: Path) -> None:
    reader = suite.make_reader(data_root)
    samples = [reader.load(ref) for ref in reader.index("val").refs[:2]]
    outputs = method.segment_parts(samples)
    assert len(outputs) == len(samples)
    for sample, out in zip(samples, outputs):
        assert np.asarray(out).shape == (len(sample.record.gt_parts), *sample.size)


def _check_part_editing(method, suite, data_root: Path) -> None:
    reader = suite.make_reader(data_root)
    samples = [reader.load(ref) for ref in reader.index(suite.default_split).refs[:2]]
    outputs = method.edit(samples)
    assert len(outputs) == len(samples)
    for sample, out in zip(samples, outputs):
        assert np.asarray(out).shape == (*sample.size, 3)
