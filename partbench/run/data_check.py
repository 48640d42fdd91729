"""The data a run or scoring pass reads: is it complete, what is its fingerprint, which samples changed since the run
last saw them. What results.json records about it goes under `data`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.store.inputs import DataFingerprint
    from partbench.tasks.base import Work

SHOWN_IDS = 10


def check_complete(work: Work, suite_name: str, allow_incomplete: bool) -> None:
    """Refuse incomplete data unless allowed; when allowed, say what is missing (results.json records it)."""
    check = work.completeness
    if check is None or check.complete:
        return
    if not allow_incomplete:
        raise PartbenchError(check.message(suite_name))
    _warn(f"suite {suite_name!r} ({check.split} split): scoring incomplete data (--allow-incomplete-data): "
          f"{len(check.problems)} problem(s), e.g. {check.problems[0]} results.json records complete: false.")


def fingerprint(work: Work, data_root: Path, rehash: bool = False) -> DataFingerprint | None:
    if work.input_files is None:
        return None
    from partbench.store.inputs import fingerprint_inputs

    return fingerprint_inputs(data_root, work.items, work.input_files, rehash=rehash)


def data_summary(work: Work, inputs: DataFingerprint | None) -> dict[str, Any] | None:
    """results.json's `data`: completeness (counts, problems) and the data fingerprint."""
    out: dict[str, Any] = {}
    if work.completeness is not None:
        out |= work.completeness.summary()
    if inputs is not None:
        out |= inputs.summary()
    return out or None


def report_changed(before: dict[str, str], inputs: DataFingerprint | None, ids: Sequence[str]) -> list[str]:
    """The samples among `ids` whose input files changed since `before` was recorded, announced on stderr."""
    if inputs is None or not before:
        return []
    changed = [i for i in ids if i in before and before[i] != inputs.per_sample.get(i)]
    if changed:
        shown = ", ".join(changed[:SHOWN_IDS]) + (" ..." if len(changed) > SHOWN_IDS else "")
        _warn(f"{len(changed)} sample(s) read from files that changed since this run last saw them; their cached "
              f"predictions are not reused: {shown}")
    return changed


def inputs_document(inputs: DataFingerprint) -> dict[str, Any]:
    return {"fingerprint": inputs.fingerprint, "samples": inputs.per_sample}


def _warn(text: str) -> None:
    from partbench.console import err_console

    err_console.print(f"warning: {text}", style="yellow", markup=False, highlight=False, soft_wrap=True)
