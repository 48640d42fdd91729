"""Every built-in method declares its `--method-arg`s, so `partbench methods NAME` lists them and a typo is answered
with close matches before anything runs; the option dataclasses built from them take exactly the declared names.
Generated from the registry: a method added without declarations fails here."""

from __future__ import annotations

from dataclasses import fields

import pytest

from partbench.api.method import Param, method_options
from partbench.errors import PartbenchError
from partbench.registry import all_methods

BUILT_IN = [m for m in all_methods() if m.factory.startswith("partbench.")]


def _id(info) -> str:
    return f"{info.name}[{'/'.join(info.kinds)}]"


@pytest.mark.parametrize("info", BUILT_IN, ids=_id)
def test_every_built_in_method_declares_its_arguments(info):
    assert info.params is not None, f"{info.name}: declare its --method-args (MethodInfo.params)"
    names = [p.name for p in info.params]
    assert len(names) == len(set(names))
    for p in info.params:
        assert p.type in (str, int, float, bool) or p.type.__name__ == "Path"
        if p.default is not None:  # a declared default is a value its own declaration accepts
            p.check(info.name, str(p.default))


@pytest.mark.parametrize("info", [m for m in BUILT_IN if m.params], ids=_id)
def test_a_misspelt_argument_is_answered_with_the_declared_name(info):
    name = info.params[0].name
    typo = name[:-1] + ("x" if name[-1] != "x" else "y")
    with pytest.raises(PartbenchError, match=f"unknown --method-arg '{typo}'. Did you mean '{name}'"):
        info.check_args({typo: "1"})


def test_the_catalogue_lists_every_declared_argument():
    from typer.testing import CliRunner

    from partbench.cli.main import app

    for name in ("partconcepts", "conceptattention", "flux2-klein", "langhops"):
        shown = CliRunner().invoke(app, ["methods", name], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        (info, *_) = [m for m in BUILT_IN if m.name == name]
        for p in info.params:
            kind = p.type.__name__ + (f" {p.bounds}" if p.bounds else "")
            assert f"{p.name} ({kind}" in shown.output, (name, p.name)


def _option_classes():
    from partbench.adapters import params
    from partbench.adapters.clipseg import ClipSegOptions
    from partbench.adapters.conceptattention.options import PARAMS as CONCEPTATTENTION
    from partbench.adapters.conceptattention.options import ConceptAttentionOptions
    from partbench.adapters.external.methods import ExternalOptions
    from partbench.adapters.seg4diff.options import PARAMS as SEG4DIFF
    from partbench.adapters.seg4diff.options import Seg4DiffOptions

    return [(ClipSegOptions, params.CLIPSEG), (ConceptAttentionOptions, CONCEPTATTENTION),
            (ExternalOptions, params.EXTERNAL), (Seg4DiffOptions, SEG4DIFF)]


@pytest.mark.parametrize(("cls", "declared"), _option_classes(), ids=lambda x: getattr(x, "__name__", ""))
def test_option_dataclasses_take_exactly_the_declared_names(cls, declared):
    assert {f.name for f in fields(cls)} == {p.name for p in declared}


def test_method_options_fill_declared_defaults_and_convert_given_values():
    declared = (Param("n", int, 3, min=1), Param("mode", str, choices=("a", "b")), Param("on", bool, "false"))
    assert method_options("m", declared, {}) == {"n": 3, "mode": None, "on": False}
    assert method_options("m", declared, {"n": "7", "mode": "b", "on": "yes"}) == {"n": 7, "mode": "b", "on": True}
    with pytest.raises(PartbenchError, match="n must be at least 1, got '0'"):
        method_options("m", declared, {"n": "0"})


def test_reading_the_declarations_imports_no_method():
    """The declarations live apart from the methods: loading the whole catalogue imports no numpy, torch or method
    module (a method package whose __init__ imports its method would pull them in)."""
    import subprocess
    import sys

    code = ("import sys\nfrom partbench.registry import all_methods\n"
            "assert all(m.params is not None for m in all_methods())\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('numpy', 'torch')\n"
            "       or (m.endswith('.method') and m != 'partbench.api.method')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_task_kinds_declare_the_arguments_they_split_off():
    from partbench.tasks import edit_clip, generation, teacher_forcing
    from partbench.tasks.kind_args import GENERATION_ARGS
    from partbench.tasks.part_editing import PartEditingTask

    assert {p.name for p in GENERATION_ARGS} == set(generation.CLIP_OPTIONS) | set(generation.RUN_OPTIONS)
    assert set(edit_clip.OPTIONS) == {p.name for p in PartEditingTask.arg_params}
    assert set(teacher_forcing.PROTOCOL_ARGS) == {"competitor", "part_threshold"}


def test_a_task_kinds_arguments_are_checked_listed_and_suggested(tmp_path):
    """A bad value of the kind's own argument is refused in the kind's name before anything is written; a misspelt
    one that reaches the method is answered with the kind's name for it; `partbench suites` lists them."""
    from helpers.cli import invoke

    from partbench.run import RunRequest, run

    req = dict(method="image-folder", suite="demo-t2i", data_root=tmp_path, output_root=tmp_path / "runs")
    with pytest.raises(PartbenchError, match=r"Suite 'demo-t2i' \(generation\): --method-arg clip_batch_size must "
                                             r"be at least 1, got '0'"):
        run(RunRequest(method_args={"path": str(tmp_path), "clip_batch_size": "0"}, **req))
    with pytest.raises(PartbenchError, match=r"unknown --method-arg 'clip_modle'. Did you mean 'clip_model' or .*"
                                             r"Known: path. The suite's own: images_per_prompt, clip_model"):
        run(RunRequest(method_args={"path": str(tmp_path), "clip_modle": "ViT-B-16"}, **req))
    # a method's bad value is answered before the kind loads its scorers (no CLIP weights here)
    with pytest.raises(PartbenchError, match="--method-arg sampler must be one of distilled, base, got 'bogus'"):
        run(RunRequest(**req | {"method": "partconcepts"}, method_args={"checkpoint": "ck", "sampler": "bogus"}))
    assert not (tmp_path / "runs").exists()

    listed = invoke("suites", "partonomy-core")
    flat = " ".join(listed.output.split())
    assert listed.exit_code == 0 and "competitor (str, one of background|object|background+object|none" in flat
