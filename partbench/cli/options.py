"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DataRoot = Annotated[Optional[Path], typer.Option(
    "--data-root", help="Where datasets live. Default: $PARTBENCH_DATA, else ~/.cache/partbench/data.",
    show_default=False)]
Split = Annotated[Optional[str], typer.Option(help="Split to evaluate. Default: the suite's evaluation split (val).",
                                              show_default=False)]
Convention = Annotated[Optional[str], typer.Option(
    help="mIoU averaging: ovparts (official OV-PARTS/LangHOPS, default), nanmean (detectron2/PartCLIPSeg) or "
         "partcatseg (IoU>0 classes only; inflates numbers).", show_default=False)]
AllowIncompleteData = Annotated[bool, typer.Option(
    "--allow-incomplete-data", help="Score a data root with missing files or counts other than documented "
                                    "(results.json then records complete: false; tables mark the run).")]
GtResizeOption = Annotated[Optional[str], typer.Option(
    "--gt-resize", metavar="SHORT,MAX",
    help="Score the ground truth as the official OV-PARTS/PartCATSeg/LangHOPS evaluators do: through the method's "
         "test resize (e.g. 640,768, or a codebase: partcatseg, catseg, ovparts-clipseg, partclipseg; with `run`, "
         "`published` = the method's own) and back (docs/suites.md). Default: native annotations.",
    show_default=False)]
Bootstrap = Annotated[int, typer.Option(help="Bootstrap replicates for the 95% intervals (0 = none).")]


def parse_method_args(items: list[str] | None) -> dict[str, str]:
    """`--method-arg k=v` (repeatable; `k=v k2=v2` in one value also works) into a dict."""
    from partbench.errors import PartbenchError

    out: dict[str, str] = {}
    for item in items or []:
        for pair in item.split():
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise PartbenchError(f"--method-arg expects key=value, got {pair!r}.")
            out[key] = value
    return out
