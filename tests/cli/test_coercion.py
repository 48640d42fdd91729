"""`partbench.cli.coercion`: every plain option of every command converts each value exactly as typer's own
(pydantic) coercion does, or leaves the value to it; and a command runs without importing pydantic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import walk_commands
from typer._coercion import build_runtime_param

from partbench.cli import coercion

REPO = Path(__file__).resolve().parents[2]

VALUES = {
    str: ["abc", "", "ünïcode", "-x", " padded "],
    int: ["0", "12", "-3", "+4", "007", "1_000", " 5", "x", "1.5", "12.0", "", 1000, 0],
    float: ["0.5", "1", "1e3", "-2.5E-1", ".5", "5.", "inf", "nan", "x", "1_0.5", "", 1, 0.25],
    bool: [True, False],
    Path: ["a/b", ".", "", "~/x", Path("p"), "MISSING", "FILE", "DIR"],
}


def _plain_params():
    return [(" ".join([*words, param.name]), command, ctx, param)
            for words, command, ctx in walk_commands() for param in command.get_params(ctx)
            if hasattr(param, "type_descriptor") and coercion._plain(param.type_descriptor) is not None]


PARAMS = _plain_params()


def _outcome(coerce, value, ctx, param):
    try:
        return "ok", coerce(value, param=param, ctx=ctx)
    except Exception as e:  # typer's BadParameter, or anything else: the same kind and message is expected
        return type(e).__name__, str(e)


def test_the_cli_has_plain_options_of_every_kind():
    kinds = {coercion._plain(p.type_descriptor) for _, _, _, p in PARAMS}
    assert {(t, False) for t in coercion.PLAIN} <= kinds and (str, True) in kinds and (Path, True) in kinds


@pytest.mark.parametrize("name, command, ctx, param", PARAMS, ids=[p[0] for p in PARAMS])
def test_plain_conversion_matches_typers(name, command, ctx, param, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "DIR").mkdir()
    item, many = coercion._plain(param.type_descriptor)
    descriptor = param.type_descriptor
    theirs = build_runtime_param(descriptor)._coerce_value
    ours = coercion.PlainRuntimeParam(parameter_info=descriptor.parameter_info,
                                      annotation=descriptor.annotation)._coerce_value
    samples = VALUES[item] if not many else [[], *([v] for v in VALUES[item]), VALUES[item][:2]]
    for value in samples:
        expected = _outcome(theirs, value, ctx, param)
        got = _outcome(ours, value, ctx, param)
        # repr: nan equals itself, and an int where typer gives a float (or a str for a Path) differs
        assert repr(got) == repr(expected), (name, value)


def test_scoring_imports_no_pydantic(tmp_path):
    """The point of the plain conversion: `partbench score` (options of every plain kind, an error on the way out
    since the data root is empty) never imports pydantic."""
    code = ("import sys\n"
            "from partbench.cli.main import main\n"
            "sys.argv = ['partbench', 'score', '--suite', 'demo', '--predictions', 'nowhere', '--bootstrap', '10',"
            " '--data-root', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')])")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
