"""Was a run made from the data that `show` and `figure` draw beside its predictions?

They read the image and ground truth from the data root in use, and the prediction from the run: when the run was
made on other data (another copy, an edited or regenerated data root), the picture pairs a prediction with an image
it never saw. `partbench table` marks such runs `(other data)` by their data fingerprints; here the same fingerprints
are compared with what the data root holds now. A run made by `partbench run` keeps each sample's input fingerprint
(inputs.json), so only the samples shown are hashed; a run that kept only its data fingerprint (`partbench score`) is
compared with the fingerprint of the whole split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.analysis.runs import RunData

SHOWN_IDS = 5


def other_data(runs: Sequence[RunData], reader: Any, refs: dict[str, Any], sample_ids: Sequence[str],
               data_root: Path) -> list[str]:
    """One warning per run made on other data than `data_root` holds now for the samples shown (none when it cannot
    be told: a run that recorded no fingerprint)."""
    from partbench.store.inputs import fingerprint_inputs

    files = getattr(reader, "input_files", None) or (lambda ref: [ref.image_path])
    shown = [refs[i] for i in dict.fromkeys(sample_ids) if i in refs]
    now = fingerprint_inputs(data_root, shown, files).per_sample
    whole_split: str | None = None  # hashed only for a run that needs it
    notes = []
    for run in runs:
        recorded = _recorded_inputs(run)
        if recorded:
            differ = [i for i in now if i in recorded and recorded[i] != now[i]]
        elif run.data_fingerprint:
            if whole_split is None:
                whole_split = fingerprint_inputs(data_root, list(refs.values()), files).fingerprint
            differ = list(now) if run.data_fingerprint != whole_split else []
        else:
            continue
        if differ:
            ids = ", ".join(differ[:SHOWN_IDS]) + (" ..." if len(differ) > SHOWN_IDS else "")
            notes.append(f"{run.name} was made on other data than {data_root} holds (other data): the files of "
                         f"{ids} differ from those it predicted from, so its prediction is drawn over an image and "
                         f"ground truth it never saw. Pass the run's own data root with --data-root.")
    return notes


def _recorded_inputs(run: RunData) -> dict[str, str]:
    """Sample id -> input fingerprint as the run last saw them (inputs.json; empty when absent or unreadable)."""
    from partbench.store.atomic import read_json

    path = Path(run.path) / "inputs.json"
    if not path.is_file():
        return {}
    try:
        samples = read_json(path).get("samples")
    except (PartbenchError, OSError, AttributeError):
        return {}
    return samples if isinstance(samples, dict) else {}
