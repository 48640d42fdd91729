"""PartConcepts generation as comparisons need it: the part marked where the prompt record's instruction names it
(all 500 suite prompts), the generation fingerprint versioned, images at the size a run asks for (recorded in
results, shown in tables), the sampler kind from the checkpoint or `-a sampler=`, and user-study packs that refuse
to pair images of different sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from partbench.errors import PartbenchError
from partbench.methods.partconcepts.prompts import mark_part, mark_prompt_item, parse_marked_prompt


@pytest.mark.parametrize("suite_name", ["t2i-part-prompts", "demo-t2i"])
def test_every_suite_prompt_marks_its_instructions_part_phrase(suite_name):
    from partbench.data.prompts import load_prompts
    from partbench.suites import load_suite

    items = load_prompts(load_suite(suite_name))
    potted = 0
    for item in items:
        meta = item.meta
        marked = parse_marked_prompt(mark_prompt_item(item))
        assert marked.text == item.prompt  # marking adds brackets only
        assert marked.phrases == (meta["part_phrase"],), item.id
        (start, end), = marked.spans
        instruction_at = item.prompt.rindex(meta["instruction"])
        # the marked span is the instruction's {part} slot, not an earlier match in the class name
        assert start == instruction_at + meta["template"].index("{part}"), (item.id, mark_prompt_item(item))
        assert item.prompt[start:end] == meta["part_phrase"]
        potted += meta["class_name"] == "potted plant"
    if suite_name == "t2i-part-prompts":
        assert len(items) == 500 and potted == 36  # the cases the first-substring marking got wrong


def test_potted_plant_cases_and_word_boundaries():
    pot = "a photo of a potted plant, with its pot painted red"
    assert mark_part(pot, "pot", "its pot painted red", "its {part} painted {color}") == \
        "a photo of a potted plant, with its [pot] painted red"
    plant = "a photo of a potted plant, with its plant made of gold"
    assert mark_part(plant, "plant", "its plant made of gold") == \
        "a photo of a potted plant, with its [plant] made of gold"
    # without an instruction: whole words only ("pot" is not in "potted"), and an ambiguous part is refused
    assert mark_part(pot.replace("its pot", "the lid"), "pot") == pot.replace("its pot", "the lid")
    assert mark_part(pot, "pot") == pot.replace("its pot", "its [pot]")
    with pytest.raises(PartbenchError, match="occurs 2 times"):
        mark_part(plant, "plant", where="prompt p7")
    with pytest.raises(PartbenchError, match="not in its prompt"):
        mark_part(plant, "plant", "its leaf made of gold")
    assert mark_part("a [plant] in gold", "plant") == "a [plant] in gold"  # already marked: unchanged


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny checkpoint at 32 px (generation only needs the wiring, not a trained model)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("peft")
    from partbench.methods.partconcepts import checkpoint as ckpt
    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.presets import PartConceptsConfig

    torch.manual_seed(0)
    model = PartConceptsModel(PartConceptsConfig.for_preset("tiny", resolution=32))
    out = tmp_path_factory.mktemp("pc-gen")
    ckpt.save_checkpoint(out, model, {"step": 0, "final": True, "base": model.components.description})
    return out


def _suite(name: str):
    from partbench.suites import load_suite

    return load_suite(name)


def test_generation_fingerprint_is_versioned_apart_from_segmentation(checkpoint):
    from partbench.methods.partconcepts.method import GENERATION_VERSION, SEGMENTATION_VERSION, PartConcepts

    args = {"checkpoint": str(checkpoint)}
    seg = PartConcepts.fingerprint_for(suite=_suite("demo"), args=args)
    gen = PartConcepts.fingerprint_for(suite=_suite("demo-t2i"), args=args)
    assert seg.startswith(f"partconcepts-v{SEGMENTATION_VERSION}-")
    assert gen.startswith(f"partconcepts-gen-v{GENERATION_VERSION}-")
    assert GENERATION_VERSION >= 2 and seg.split("-")[-1] == gen.split("-")[-1]  # same checkpoint digest


def test_images_at_the_requested_size_recorded_in_the_description(checkpoint):
    from partbench.api.types import PromptItem
    from partbench.methods.partconcepts.method import PartConcepts

    suite = _suite("demo-t2i")
    item = PromptItem(id="p0", prompt="a photo of a cow, with its head painted red", part="head",
                      meta={"instruction": "its head painted red", "template": "its {part} painted {color}"})
    described = PartConcepts.describe_for(suite=suite, args={"checkpoint": str(checkpoint)})
    assert described["image_size"] == [32, 32] and described["sampler"] == "distilled"
    assert (described["steps"], described["guidance"]) == (4, 1.0)
    method = PartConcepts(suite=suite, args={"checkpoint": str(checkpoint), "resolution": "48", "steps": "1"})
    (image,) = method.generate([item], [3])
    assert image.size == (48, 48)
    assert PartConcepts.describe_for(suite=suite, args={"checkpoint": str(checkpoint),
                                                        "resolution": "48"})["image_size"] == [48, 48]
    with pytest.raises(PartbenchError, match="multiple of"):
        PartConcepts(suite=suite, args={"checkpoint": str(checkpoint), "resolution": "50"}).generate([item], [3])


def test_sampler_kind_from_checkpoint_or_arg_unknown_refused(checkpoint, tmp_path):
    import shutil

    from partbench.methods.partconcepts.method import PartConcepts

    suite = _suite("demo-t2i")
    base = PartConcepts.describe_for(suite=suite, args={"checkpoint": str(checkpoint), "sampler": "base"})
    assert (base["sampler"], base["steps"], base["guidance"]) == ("base", 50, 4.0)
    with pytest.raises(PartbenchError, match="sampler must be one of distilled, base"):
        PartConcepts.describe_for(suite=suite, args={"checkpoint": str(checkpoint), "sampler": "turbo"})
    copy = tmp_path / "ckpt"
    shutil.copytree(checkpoint / "checkpoint", copy)
    config = json.loads((copy / "config.json").read_text())
    config["base"]["sampler"] = "lightning"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PartbenchError, match="unknown sampler kind 'lightning'"):
        PartConcepts.describe_for(suite=suite, args={"checkpoint": str(copy)})
    config["base"].pop("sampler")
    config["model"] |= {"preset": "klein", "base_model": "black-forest-labs/FLUX.2-klein-base-9B"}
    (copy / "config.json").write_text(json.dumps(config))  # a checkpoint from before the record: the name decides
    described = PartConcepts.describe_for(suite=suite, args={"checkpoint": str(copy)})
    assert (described["sampler"], described["sampler_from"]) == ("base", "base model name")


def test_base_sampler_guides_and_keeps_the_conditional_maps(checkpoint):
    import torch

    from partbench.methods.partconcepts.checkpoint import load_model
    from partbench.methods.partconcepts.generate import generate_images

    model = load_model(checkpoint)
    prompt = "a photo of a cow with a red [head]"
    calls = []
    hook = model.transformer.register_forward_hook(lambda *_: calls.append(1))
    try:
        (dist,) = generate_images(model, [prompt], [5], steps=2, map_steps=1)
        n_distilled = len(calls)
        (base,) = generate_images(model, [prompt], [5], steps=2, map_steps=1, guidance=4.0, distilled=False)
    finally:
        hook.remove()
    assert (n_distilled, len(calls) - n_distilled) == (2, 4)  # guidance: a conditional and an unconditional call
    assert not np.array_equal(np.asarray(dist.image), np.asarray(base.image))
    assert base.maps.shape == dist.maps.shape and torch.isfinite(base.maps).all()


def _row(label: str, size, clip: float) -> dict:
    config = {"image_size": size} if size else {}
    return {"suite": "demo-t2i", "method": label, "run_name": label, "task": "generation",
            "metrics": {"clip_score": clip}, "method_config": config}


def test_tables_show_and_separate_image_sizes():
    from partbench.leaderboard.cells import footnotes, row_flags
    from partbench.leaderboard.results import row_from_result
    from partbench.leaderboard.tables import build_tables

    rows = [row_from_result(_row("a", [512, 512], 20.0)), row_from_result(_row("b", [512, 512], 21.0)),
            row_from_result(_row("c", [1024, 1024], 30.0)), row_from_result(_row("d", None, 1.0))]
    (table,) = build_tables(rows)
    by = {r.label: r for r in table.rows}
    assert by["c"].other_size and "(1024x1024)" in row_flags(by["c"]) and not by["c"].competes
    assert not by["a"].other_size and not by["d"].other_size
    notes = " ".join(footnotes(table, False, str))
    assert "a 512x512" in notes and "c 1024x1024" in notes
    (same,) = build_tables(rows[:2])
    assert "Images generated at 512x512" in " ".join(footnotes(same, False, str))


def test_userstudy_export_refuses_pairs_of_different_sizes(tmp_path, monkeypatch):
    from helpers.generation import study_runs
    from PIL import Image

    from partbench.userstudy.export import ExportOptions, export_pack

    runs = study_runs(tmp_path, monkeypatch, n_runs=2)
    for png in (runs[1] / "predictions").rglob("*.png"):
        with Image.open(png) as im:
            im.load()
            bigger = im.resize((im.width * 2, im.height * 2))
        bigger.save(png)
    with pytest.raises(PartbenchError, match="different sizes.*--allow-different-sizes"):
        export_pack(ExportOptions(runs=runs, out=tmp_path / "s", items=2, gold=0))
    key = export_pack(ExportOptions(runs=runs, out=tmp_path / "s", items=2, gold=0, allow_different_sizes=True))
    sizes = key["image_sizes"]
    assert sizes[key["reference"]] != sizes[key["baselines"][0]] and key["allow_different_sizes"] is True
