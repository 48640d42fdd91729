"""`partbench suites SUITE --samples [--json]`: a suite's samples with their files and texts, for methods run
elsewhere (image-folder reads `<sample id>/0.png`). Only task kinds that list samples (`list_samples`) offer it;
a generated suite is generated first, as `run` does."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def print_samples(name: str, data_root: Path, explicit_root: bool, split: str | None, as_json: bool) -> None:
    from partbench.console import console, err_console
    from partbench.data.generated import ensure_generated
    from partbench.errors import PartbenchError
    from partbench.suites import load_suite
    from partbench.tasks.base import task_kind_for

    suite = load_suite(name)
    kind = task_kind_for(suite)
    if not hasattr(kind, "list_samples"):
        raise PartbenchError(f"--samples lists the samples of part-editing suites; {suite.name!r} is a {suite.task} "
                             f"suite (see --classes or --prompts).")
    ensure_generated(suite.name, data_root, explicit_root=explicit_root,
                     note=lambda msg: err_console.print(msg, highlight=False, soft_wrap=True))
    split = suite.check_split(split)
    samples = kind.list_samples(suite, data_root, split)
    if as_json:
        console.print_json(json.dumps(samples, ensure_ascii=False))
        return
    typer.echo(f"# {suite.name} v{suite.version} ({split}): {len(samples)} samples; image-folder reads "
               f"<dir>/<sample id>/0.png at the source's size")
    for s in samples:
        typer.echo(f"{s['id']}\t{s['image']}\t{s['mask']}\t{s['edit_prompt']}")
