"""The example of docs/adding-a-method.md works as written: its two Python blocks, saved as the module the guide
names and loaded through PARTBENCH_PLUGINS, are listed with their argument, run on the demo suite, and refuse a
misspelt argument."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "adding-a-method.md"


def test_the_guides_example_method_lists_runs_and_refuses_a_typo(tmp_path, demo_root):
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert blocks[0].startswith("# my_methods/centre.py")
    package = tmp_path / "my_methods"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "centre.py").write_text(blocks[0] + "\n" + blocks[1])
    env = os.environ | {"PARTBENCH_PLUGINS": "my_methods.centre", "PYTHONPATH": str(tmp_path), "COLUMNS": "200"}

    def partbench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "partbench", *args], env=env, capture_output=True, text=True,
                              cwd=tmp_path)

    listed = partbench("methods", "centre-part")
    assert listed.returncode == 0, listed.stderr
    assert "part_index (int at least 0, default 0)" in listed.stdout

    ran = partbench("run", "--method", "centre-part", "--suite", "demo", "-a", "part_index=1", "--data-root",
                    str(demo_root), "--bootstrap", "0", "-o", "runs")
    assert ran.returncode == 0, ran.stderr
    (results,) = (tmp_path / "runs").rglob("results.json")
    doc = json.loads(results.read_text())
    assert doc["method"] == "centre-part" and doc["n_samples"] > 0

    typo = partbench("run", "--method", "centre-part", "--suite", "demo", "-a", "part_idx=1", "--data-root",
                     str(demo_root), "-o", "runs")
    assert typo.returncode == 2
    assert "Did you mean 'part_index'?" in typo.stderr + typo.stdout and "Traceback" not in typo.stderr
