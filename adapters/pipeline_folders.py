"""One check shared by the adapters that load a diffusers pipeline folder (ConceptAttention, Seg4Diff): the folder
has the components they read, else an error naming what it lacks and what to pass instead."""

from __future__ import annotations

from pathlib import Path

from partbench.errors import PartbenchError


def require_subfolders(path: Path, folders: tuple[str, ...], *, label: str, pipeline: str, example: str) -> None:
    """Refuse `path` when it lacks any of `folders`. `label` names the model ("FLUX.1 model"), `pipeline` the kind of
    pipeline folder expected ("FLUX.2 Klein") and `example` a repo id of that kind."""
    missing = [s for s in folders if not (Path(path) / s).is_dir()]
    if missing:
        raise PartbenchError(f"{label} at {path} lacks the folder(s) {', '.join(missing)}; pass a diffusers "
                             f"{pipeline} pipeline folder (as {example}) with --method-arg weights=PATH.")
