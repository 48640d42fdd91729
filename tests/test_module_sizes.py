"""Small modules with one job each: none over 450 lines (the demo generator, a drawing table, is the one exception;
the stand-in codebases under tests/fixtures are data, not modules)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 450
EXEMPT = {"partbench/data/demo.py"}


def test_no_module_is_over_the_limit():
    sizes = {}
    for folder in ("partbench", "adapters", "methods", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("tests/fixtures/") or rel in EXEMPT:
                continue
            sizes[rel] = len(path.read_text(encoding="utf-8").splitlines())
    assert len(sizes) > 100  # the walk saw the tree
    assert {k: v for k, v in sizes.items() if v > LIMIT} == {}
