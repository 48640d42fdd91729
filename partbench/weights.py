"""Finding model weights without ever downloading them during a run.

A model reference is a local path (file or directory) or a Hugging Face repo id that must already be in the local
cache (`$HF_HOME`, default ~/.cache/huggingface). Nothing is fetched: a missing model is an error naming it and how
to get it onto the machine.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from partbench.errors import PartbenchError


class WeightsNotFoundError(PartbenchError):
    """A model or checkpoint is not on this machine; the message says how to get it."""


def _looks_like_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or os.sep in ref and not _looks_like_repo_id(ref)


def _looks_like_repo_id(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "/", "~"))


def hf_cache_dir() -> Path:
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE)


def resolve_model(ref: str, *, what: str, arg: str = "weights", revision: str | None = None,
                  option: str | None = None) -> Path:
    """A local directory or file for `ref`: the path itself, or the cached snapshot of a Hugging Face repo id.

    `what` names the model's role in messages ("CLIPSeg model"); `arg` is the --method-arg that overrides it, or
    `option` how to pass a path where no --method-arg does ("--base-model PATH").
    """
    option = option or f"--method-arg {arg}=PATH"
    path = Path(ref).expanduser()
    if path.exists():
        return path
    if _looks_like_path(ref) or not _looks_like_repo_id(ref):
        raise WeightsNotFoundError(f"{what}: {path} does not exist. Pass an existing path with {option}.")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        raise WeightsNotFoundError(
            f"{what}: resolving {ref!r} needs huggingface_hub (pip install huggingface_hub).") from None
    try:
        return Path(snapshot_download(ref, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        raise WeightsNotFoundError(
            f"{what}: {ref!r}{'@' + revision if revision else ''} is not in the Hugging Face cache "
            f"({hf_cache_dir()}), and partbench never downloads during a run. On a machine with network access run "
            f"`huggingface-cli download {ref}` (with HF_HOME pointing at the cache this machine uses), "
            f"or pass a local copy with {option.replace('PATH', '/path/to/model')}."
        ) from None


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def weights_fingerprint(path: Path) -> str:
    """A cheap identity for weights: for a cached HF snapshot its commit hash is in the path; otherwise the names,
    sizes and modification times of the files (hashing tens of GB on every run would be too slow)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256(str(path.resolve()).encode())
    for f in files:
        st = f.stat()
        digest.update(f"{f.relative_to(path) if f != path else f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def snapshot_revision(path: Path) -> str | None:
    """The commit hash of a Hugging Face cache snapshot (`.../snapshots/<hash>`), else None (a local folder)."""
    path = Path(path)
    return path.name if path.parent.name == "snapshots" else None


def cache_status(repo_id: str, note: str = "") -> list[str]:
    """For `partbench methods`: [] when `repo_id` has a snapshot in the local HF cache, else what to do about it.
    Looks at the cache folder only, so listing methods imports nothing heavy."""
    snapshots = hf_cache_dir() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    if snapshots.is_dir() and any(snapshots.iterdir()):
        return []
    return [f"weights {repo_id} (not in the HF cache {hf_cache_dir()}; `huggingface-cli download {repo_id}` on a "
            f"networked machine, or --method-arg weights=PATH{'; ' + note if note else ''})"]
