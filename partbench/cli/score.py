"""`partbench score`: score predictions made by any codebase, with the same code as `partbench run`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.options import AllowIncompleteData, Bootstrap, Convention, DataRoot, GtResizeOption, Split


def score_command(
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite the predictions are for.")],
    predictions: Annotated[Path, typer.Option(
        "--predictions", "-p",
        help="Directory of PNG class-id maps (<sample id>.png or <image id>.png), or detectron2 "
             "sem_seg_predictions.json.")],
    data_root: DataRoot = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o",
        help="Results file. Default: runs/<suite>/imported-<name>/results.json (seen by `partbench table`).",
        show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(
        help="Row label in tables. Default: the predictions' file or folder name.", show_default=False)] = None,
    split: Split = None,
    convention: Convention = None,
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing", help="Score samples without a prediction as empty instead of failing.")] = False,
    bootstrap: Bootstrap = 1000,
    workers: Annotated[int, typer.Option(
        help="Threads decoding maps ahead of scoring (0 = inline; threads only pay off on large images).")] = 0,
    processes: Annotated[Optional[int], typer.Option(
        help="Processes scoring in parallel (forked; Linux). Default: one per core, for splits of 128 samples or "
             "more.", show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an import of the same name that was scored from other predictions.")] = False,
    allow_incomplete_data: AllowIncompleteData = False,
    gt_resize: GtResizeOption = None,
) -> None:
    """Score saved predictions; ids follow `partbench suites SUITE --classes`, the suite's ignore value = none."""
    from partbench.cli.summary import print_summary
    from partbench.data.root import resolve_data_root
    from partbench.run import ScoreRequest, score
    from partbench.store.atomic import atomic_write_json
    from partbench.suites import load_suite

    suite_obj = load_suite(suite)
    label = name or _default_label(predictions)
    # `imported-` keeps a re-score from ever overwriting the results of a `partbench run` directory.
    # A ground-truth round trip scores other maps: its import gets its own folder, as `run` gives it its own run.
    if gt_resize is not None:
        from partbench.data.gt_resize import GtResize

        gt_resize = str(GtResize.parse(gt_resize))
    protocol = f"@gt{gt_resize.replace(',', 'x')}" if gt_resize else ""
    target = output or Path("runs") / suite_obj.name / f"imported-{label}{protocol}" / "results.json"
    samples = target.with_name(target.stem + ".samples.jsonl") if output else target.parent / "samples.jsonl"
    # Scored without some files, a default import goes to a folder of its own, as `run` does, so the complete
    # import's results stay (an explicit --output is written as asked).
    incomplete = None
    if allow_incomplete_data and output is None:
        folder = target.parent.with_name(f"{target.parent.name}@incomplete-data")
        incomplete = (folder / "samples.jsonl", folder / "results.json")
    if not force:
        for path in [target] + ([incomplete[1]] if incomplete else []):
            _refuse_other_source(path, predictions, gt_resize)
    from partbench.console import err_console
    from partbench.data.generated import ensure_generated

    ensure_generated(suite_obj.name, resolve_data_root(data_root), explicit_root=data_root is not None,
                     note=lambda msg: err_console.print(msg, highlight=False, soft_wrap=True))
    doc = score(ScoreRequest(
        suite=suite, data_root=resolve_data_root(data_root), predictions=predictions, name=label,
        samples_path=samples, split=split, convention=convention, allow_missing=allow_missing, bootstrap=bootstrap,
        workers=workers, processes=processes, results_path=target, allow_incomplete_data=allow_incomplete_data,
        incomplete_paths=incomplete, gt_resize=gt_resize,
    ))
    if doc is None:  # a rank other than 0 of a torchrun launch: rank 0 writes the results
        return
    if incomplete is not None and (doc.get("data") or {}).get("complete") is False:
        target = incomplete[1]
    atomic_write_json(target, doc)
    print_summary(doc, str(target))


def _default_label(predictions: Path) -> str:
    """`<OUTPUT_DIR>` for detectron2's `<OUTPUT_DIR>/inference/sem_seg_predictions.json`, the file's own name for any
    other JSON file, the run's name for a run's predictions/, else the folder's name."""
    path = predictions.resolve()
    if path.name == "sem_seg_predictions.json":
        return path.parent.parent.name if path.parent.name == "inference" else path.parent.name
    if path.suffix == ".json":
        return path.stem
    return path.parent.name if path.name == "predictions" else path.name


def _refuse_other_source(target: Path, predictions: Path, gt_resize: str | None) -> None:
    """Two different prediction sources, or one source under two ground-truth protocols, never share one results
    file: a finished import is replaced only by re-scoring the same source the same way (or with --force)."""
    import json

    from partbench.data.gt_resize import GtResize
    from partbench.errors import PartbenchError

    try:
        previous_doc = json.loads(target.read_text(encoding="utf-8"))
        previous = previous_doc.get("predictions")
    except (OSError, ValueError, AttributeError):
        return  # nothing finished there (or unreadable: it is rewritten)
    if previous and Path(previous).resolve() != predictions.resolve():
        raise PartbenchError(f"{target} holds the scores of {previous}; give these predictions their own --name, "
                             f"or replace them with --force.")
    now = str(GtResize.parse(gt_resize)) if gt_resize else None
    if previous_doc.get("gt_resize") != now:
        was = f"--gt-resize {previous_doc['gt_resize']}" if previous_doc.get("gt_resize") else "native ground truth"
        raise PartbenchError(f"{target} holds these predictions scored with {was}; write this one elsewhere "
                             f"(--output) or replace it with --force.")
