"""Edited images made elsewhere, found by sample id: `image-folder`'s `<dir>/<sample id>/0.png` (the `0` leaves room
for several edits per sample) and, for `partbench score`, also `<dir>/<sample id>.png` (a run's `predictions/`).
PNG, JPEG or WebP; a missing edit is an error listing the samples unless `--allow-missing`, where it counts as an
all-black image (every background pixel lost), never as the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.tasks.base import Work

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")
SHOWN = 10


def find_edit(root: Path, sample_id: str, flat: bool = False) -> Path | None:
    """`<root>/<sample id>/0.<ext>`, else with `flat` `<root>/<sample id>.<ext>` (any case of the extension)."""
    stems = [root / sample_id / "0"] + ([root / sample_id] if flat else [])
    for stem in stems:
        for ext in IMAGE_EXTS:
            for candidate in (stem.with_name(stem.name + ext), stem.with_name(stem.name + ext.upper())):
                if candidate.is_file():
                    return candidate
    return None


def missing_message(root: Path, missing: list[str], total: int, layout: str) -> str:
    shown = ", ".join(missing[:SHOWN]) + (f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else "")
    return (f"{root}: {len(missing)} of {total} samples have no edited image ({shown}). Expected layout: {layout} "
            f"(.png, .jpg, .jpeg or .webp); `partbench suites SUITE --samples` lists the sample ids.")


class SavedEdits:
    """`partbench score`'s source for part-editing suites (see the module docstring)."""

    def __init__(self, path: Path, work: Work, allow_missing: bool):
        from partbench.console import err_console

        if not path.is_dir():
            raise PartbenchError(f"{path}: expected a folder of <sample id>.png (or <sample id>/0.png) edited images.")
        self.root = path
        self.paths = {ref.id: find_edit(path, ref.id, flat=True) for ref in work.items}
        missing = [i for i, p in self.paths.items() if p is None]
        if missing and not allow_missing:
            raise PartbenchError(missing_message(path, missing, len(self.paths), "<sample id>.png or <sample id>/0.png")
                                 + " Use --allow-missing to score them as all-black images.")
        if missing:
            err_console.print(f"warning: {len(missing)} of {len(self.paths)} samples have no edited image in {path}: "
                              f"each counts as an all-black image (--allow-missing).", style="yellow", markup=False,
                              highlight=False, soft_wrap=True)
        self.n_missing = len(missing)

    def read(self, sample: Any) -> np.ndarray:
        from partbench.data.part_edit import read_rgb

        path = self.paths.get(sample.id)
        return np.zeros((*sample.size, 3), dtype=np.uint8) if path is None else read_rgb(path)

    def describe(self, sample: Any) -> str:
        path = self.paths.get(sample.id)
        return str(path) if path is not None else f"{self.root} (sample {sample.id}: missing)"
