"""`partbench table` input handling (results files, run directories, filters, errors) and its light imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from table_helpers import REPO, md_rows, write_result

from partbench.errors import PartbenchError
from partbench.leaderboard.results import load_result, row_from_result

# ---------------------------------------------------------------------------------------------------------------------
# Input handling


def test_invalid_json_names_the_file(cli, two_runs):
    """Found by scanning, a broken run is skipped with a warning naming it; named on the command line, an error."""
    bad = two_runs / "pascal-part-116" / "broken" / "results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"suite": "pascal-part-116", ', encoding="utf-8")
    r = cli("--runs-root", two_runs, "--format", "json", "--no-published")
    assert r.exit_code == 0, r.output
    assert str(bad) in r.stderr and "not valid JSON" in r.stderr and "Traceback" not in r.output
    assert sorted(row["label"] for row in json.loads(r.stdout)) == ["alpha", "beta@1a2b3c4d"]
    named = cli(bad)
    assert named.exit_code == 2 and str(bad) in named.output and "Traceback" not in named.output
    with pytest.raises(PartbenchError, match="broken"):
        load_result(bad)


def test_missing_keys_and_bad_values_are_errors(cli, tmp_path):
    f = tmp_path / "score-output.json"
    f.write_text(json.dumps({"suite": "pascal-part-116", "metrics": {}}), encoding="utf-8")
    r = cli(f)
    assert r.exit_code == 2 and "score-output.json" in r.output and "'method'" in r.output
    f.write_text(json.dumps({"suite": "s", "method": "m", "metrics": {"h_iou": "high"}}), encoding="utf-8")
    with pytest.raises(PartbenchError, match=r"metrics\['h_iou'\]"):
        row_from_result(load_result(f), f)
    f.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(PartbenchError, match="JSON object"):
        load_result(f)


def test_paths_dirs_without_results_and_suite_filter(cli, two_runs, tmp_path):
    pending = two_runs / "pascal-part-116" / "pending"
    (pending / "predictions").mkdir(parents=True)
    write_result(two_runs / "ade20k-part-234" / "x", suite="ade20k-part-234")
    loose = write_result(tmp_path / "elsewhere", run_name="scored-elsewhere")

    r = cli("--runs-root", two_runs, "--format", "json", "--no-published")
    assert r.exit_code == 0
    assert "pending" in r.stderr and "skipped" in r.stderr
    assert {row["suite"] for row in json.loads(r.stdout)} == {"pascal-part-116", "ade20k-part-234"}

    r = cli("--runs-root", two_runs, "--format", "json", "--no-published", "--suite", "ade20k-part-234")
    assert [row["label"] for row in json.loads(r.stdout)] == ["x"]

    r = cli(two_runs / "pascal-part-116" / "alpha", loose, pending, "--format", "json", "--no-published")
    assert r.exit_code == 0, r.output
    assert [row["label"] for row in json.loads(r.stdout)] == ["alpha", "scored-elsewhere"]
    assert "pending" in r.stderr


def test_metrics_override_and_ci(cli, two_runs):
    r = cli("--runs-root", two_runs, "--format", "markdown", "--no-published", "--metrics", "miou,h_iou", "--ci")
    rows = md_rows(r.stdout)
    assert rows["alpha"][:2] == ["**40.00**", "**37.50 ± 2.00**"]
    assert rows["beta@1a2b3c4d"][:2] == ["38.00", "37.33"]
    assert "| Run / method | mIoU | h-IoU |" in r.stdout


def test_bad_format_is_a_usage_error(cli, two_runs):
    r = cli("--runs-root", two_runs, "--format", "xml")
    assert r.exit_code == 2


# ---------------------------------------------------------------------------------------------------------------------
# Startup: no numpy, torch or pandas


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def test_table_does_not_import_numpy(two_runs):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from partbench.cli.main import app\n"
        f"r = CliRunner().invoke(app, ['table', '--runs-root', {str(two_runs)!r}, '--format', 'latex', '--ci'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('numpy', 'torch', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=REPO)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr


HEAVY = ("numpy", "torch", "pandas")


def _imported_heavy(importtime_log: str) -> list[str]:
    """Modules of `HEAVY` packages named in a `python -X importtime` log (stderr)."""
    names = []
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name.split(".")[0] in HEAVY:
                names.append(name)
    return names


@pytest.mark.parametrize("args", [["--help"], ["--no-published", "--runs-root", "{empty}"]], ids=["help", "run"])
def test_table_command_imports_no_heavy_modules(tmp_path: Path, args: list[str]):
    """`python -m partbench table` as a user runs it: numpy, torch or pandas would make every call slow."""
    empty = tmp_path / "empty"
    empty.mkdir()
    cmd = [sys.executable, "-X", "importtime", "-m", "partbench", "table", *(a.format(empty=empty) for a in args)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert "import time:" in out.stderr  # the log is there, so an empty list below means something
    assert not _imported_heavy(out.stderr), _imported_heavy(out.stderr)
    if args == ["--help"]:
        assert out.returncode == 0 and "Usage:" in out.stdout, out.stdout + out.stderr
    else:
        assert out.returncode == 1, out.stdout + out.stderr
        assert "No results found" in out.stderr
