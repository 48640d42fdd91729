"""`image-folder` for part editing: edits made elsewhere (other codebases, closed models), scored exactly like
partbench's own runs. Layout: `<path>/<sample id>/0.png` (or .jpg/.jpeg/.webp), one folder per sample as
`partbench suites SUITE --samples` lists them, each edit at its source's size. Every expected file is checked before
anything is scored: missing ones are an error listing them; extra files are reported and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from partbench.adapters.params import EDIT_FOLDER
from partbench.api.method import check_method_args
from partbench.data.part_edit import EditSample
from partbench.errors import PartbenchError
from partbench.tasks.saved_edits import IMAGE_EXTS, SHOWN, find_edit, missing_message

LAYOUT = "<sample id>/0.png"


def _folder(args: dict[str, str]) -> Path:
    check_method_args("image-folder", EDIT_FOLDER, args)
    if "path" not in args:
        raise PartbenchError(f"image-folder needs the folder of edited images: --method-arg path=DIR (layout "
                             f"DIR/{LAYOUT}; `partbench suites SUITE --samples` lists the sample ids).")
    path = Path(args["path"]).expanduser()
    if not path.is_dir():
        raise PartbenchError(f"image-folder: {path} is not a directory.")
    return path.resolve()


class EditFolder:
    """Reads `<path>/<sample id>/0.<ext>` for each sample."""

    needs_images = False  # sizes come from the masks

    def __init__(self, suite, data_root: Path, args: dict[str, str], seed: int = 0):
        self.root = _folder(args)

    @classmethod
    def fingerprint_for(cls, *, args: dict[str, str], **_: Any) -> str:
        # Names, sizes and modification times of every file: replacing an edit invalidates its cached copy.
        from partbench.weights import weights_fingerprint

        return "edit-folder-v1:" + weights_fingerprint(_folder(args))

    @classmethod
    def describe_for(cls, *, args: dict[str, str], **_: Any) -> dict[str, Any]:
        return {"path": str(_folder(args)), "layout": LAYOUT}

    @classmethod
    def check_inputs(cls, *, sample_ids: Sequence[str], args: dict[str, str], **_: Any) -> dict[str, Any]:
        """Every sample's edit present (else an error listing the missing ones); extra files reported."""
        root = _folder(args)
        wanted = set(sample_ids)
        missing = [i for i in sample_ids if find_edit(root, i) is None]
        if missing:
            raise PartbenchError("image-folder " + missing_message(root, missing, len(wanted), f"DIR/{LAYOUT}"))
        extra = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and not (len(p.relative_to(root).parts) == 2 and p.parent.name in wanted and p.stem == "0"
                                and p.suffix.lower() in IMAGE_EXTS))
        warnings = []
        if extra:
            more = f" and {len(extra) - SHOWN} more" if len(extra) > SHOWN else ""
            warnings.append(f"image-folder {root}: {len(extra)} extra file(s) ignored ({', '.join(extra[:SHOWN])}"
                            f"{more}).")
        return {"warnings": warnings, "summary": {"path": str(root), "expected": len(wanted), "missing": 0,
                                                  "extra": len(extra), "extra_files": extra[:100]}}

    def fingerprint(self) -> str:
        return self.fingerprint_for(args={"path": str(self.root)})

    def edit(self, samples: Sequence[EditSample]) -> list[np.ndarray]:
        from partbench.data.part_edit import read_rgb

        out = []
        for s in samples:
            path = find_edit(self.root, s.id)
            if path is None:
                raise PartbenchError(f"image-folder: {self.root / s.id / '0.png'} is missing.")
            arr = read_rgb(path)
            if arr.shape[:2] != s.size:
                raise PartbenchError(f"image-folder: {path} is {arr.shape[1]}x{arr.shape[0]}; its source is "
                                     f"{s.size[1]}x{s.size[0]} (edits must keep the source's size).")
            out.append(arr)
        return out
