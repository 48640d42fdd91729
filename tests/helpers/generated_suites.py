"""The generated suites built on the demo's val images (`demo-edit`, `demo-partonomy`), as their end-to-end tests set
them up, and a run over one of them read back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.cli import invoke


def demo_derived_root(root: Path, generate: Callable[..., Any], n_images: int) -> Path:
    """`root` holding a small demo (`n_images` val images) and the suite `generate` builds from all of them."""
    from partbench.data.demo import generate_demo

    generate_demo(root / "PartbenchDemo", seed=0, n_train=2, n_val=n_images)
    generate(root, seed=0, n_images=n_images)
    return root


def run_results(root: Path, suite: str, method: str, *args: Any, bootstrap: int) -> dict:
    """`partbench run` of `method` on `suite` into ./runs, and its results.json (the run with method arguments, when
    `args` are given, rather than the plain run beside it)."""
    r = invoke("run", "-m", method, "-s", suite, "--data-root", root, "--output", "runs", "--bootstrap", bootstrap,
               *args)
    assert r.exit_code == 0, r.output
    name = method if not args else f"{method}@"
    return json.loads(next(Path("runs", suite).glob(f"{name}*/results.json")).read_text())
