"""`partbench score`: score predictions made by any codebase, with the same code as `partbench run`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.main import app
from partbench.cli.options import Bootstrap, Convention, DataRoot, Split


@app.command("score")
def score_command(
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite the predictions are for.")],
    predictions: Annotated[Path, typer.Option(
        "--predictions", "-p",
        help="Directory of PNG class-id maps (<sample id>.png or <image id>.png), or detectron2 "
             "sem_seg_predictions.json.")],
    data_root: DataRoot = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Results file. Default: runs/<suite>/<name>/results.json (seen by `partbench table`).",
        show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(
        help="Row label in tables. Default: the predictions' file or folder name.", show_default=False)] = None,
    split: Split = None,
    convention: Convention = None,
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing", help="Score samples without a prediction as empty instead of failing.")] = False,
    bootstrap: Bootstrap = 1000,
) -> None:
    """Score saved predictions; ids follow `partbench suites SUITE --classes`, the suite's ignore value = none."""
    from partbench.cli.summary import print_summary
    from partbench.paths import atomic_write_json, atomic_write_text, resolve_data_root
    from partbench.scoring import score_external
    from partbench.suites import load_suite

    suite_obj = load_suite(suite)
    label = name or (predictions.parent.parent.name if predictions.suffix == ".json" else predictions.name)
    doc, rows = score_external(
        suite=suite_obj, data_root=resolve_data_root(data_root), predictions_path=predictions, split=split,
        convention=convention, name=label, allow_missing=allow_missing, n_replicates=bootstrap,
    )
    target = output or Path("runs") / suite_obj.name / label / "results.json"
    atomic_write_json(target, doc)
    atomic_write_text(target.with_name(target.stem + ".samples.jsonl") if output else target.parent / "samples.jsonl",
                      "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
    print_summary(doc, str(target))
