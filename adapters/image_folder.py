"""`image-folder`: score images generated elsewhere (closed models, other codebases) exactly like our own runs.

Layout (what `partbench suites SUITE --prompts` prints for each prompt): `<path>/<prompt id>/<k>.<ext>` with k = 0 ..
images_per_prompt-1 and ext one of png, jpg, jpeg, webp. Every expected file is checked before anything is scored:
missing files are an error listing them; extra files (unknown prompt ids, k beyond images_per_prompt, other names)
are reported and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from partbench.adapters.params import IMAGE_FOLDER
from partbench.api.method import check_method_args
from partbench.api.types import PromptItem
from partbench.errors import PartbenchError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")
MAX_LISTED = 10
MAX_K_SEARCH = 10_000  # seeds are mapped back to image indices by search; nobody generates more per prompt


def _folder(args: dict[str, str]) -> Path:
    check_method_args("image-folder", IMAGE_FOLDER, args)
    if "path" not in args:
        raise PartbenchError("image-folder needs the folder of images: --method-arg path=DIR "
                             "(layout DIR/<prompt id>/<k>.png; see `partbench suites SUITE --prompts`).")
    path = Path(args["path"]).expanduser()
    if not path.is_dir():
        raise PartbenchError(f"image-folder: {path} is not a directory.")
    return path.resolve()


def _listing(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def _find(root: Path, prompt_id: str, k: int) -> Path | None:
    for ext in IMAGE_EXTS:
        for candidate in (root / prompt_id / f"{k}{ext}", root / prompt_id / f"{k}{ext.upper()}"):
            if candidate.is_file():
                return candidate
    return None


class ImageFolder:
    """Reads `<path>/<prompt id>/<k>.<ext>` for each requested (prompt, seed)."""

    def __init__(self, suite, data_root: Path, args: dict[str, str], seed: int = 0):
        self.root = _folder(args)
        self.seed = seed

    @classmethod
    def fingerprint_for(cls, *, args: dict[str, str], **_: Any) -> str:
        # Names, sizes and modification times of every file: replacing an image invalidates the cached copies.
        from partbench.weights import weights_fingerprint

        return "image-folder-v1:" + weights_fingerprint(_folder(args))

    @classmethod
    def describe_for(cls, *, args: dict[str, str], **_: Any) -> dict[str, Any]:
        return {"path": str(_folder(args))}

    @classmethod
    def meaningful_for(cls, args: dict[str, str]) -> bool:
        return True

    @classmethod
    def check_inputs(cls, *, prompts: Sequence[PromptItem], images_per_prompt: int, args: dict[str, str],
                     **_: Any) -> dict[str, Any]:
        """Every expected image present (else an error listing the missing ones); extra files reported."""
        root = _folder(args)
        expected = {(p.id, k) for p in prompts for k in range(images_per_prompt)}
        missing = sorted(f"{pid}/{k}.png" for pid, k in expected if _find(root, pid, k) is None)
        extra = []
        for rel in _listing(root):
            parts = rel.parts
            ok = (len(parts) == 2 and rel.suffix.lower() in IMAGE_EXTS and rel.stem.isdigit()
                  and (parts[0], int(rel.stem)) in expected)
            if not ok:
                extra.append(str(rel))
        if missing:
            more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
            shown = ", ".join(missing[:MAX_LISTED]) + more
            raise PartbenchError(
                f"image-folder {root}: {len(missing)} of {len(expected)} expected images are missing ({shown}). "
                f"Expected layout: <prompt id>/<k>.png (or .jpg/.jpeg/.webp) for k = 0..{images_per_prompt - 1}; "
                "`partbench suites SUITE --prompts` lists every file name.")
        warnings = []
        if extra:
            more = f" and {len(extra) - MAX_LISTED} more" if len(extra) > MAX_LISTED else ""
            shown = ", ".join(extra[:MAX_LISTED]) + more
            warnings.append(f"image-folder {root}: {len(extra)} extra file(s) ignored ({shown}).")
        return {"warnings": warnings,
                "summary": {"path": str(root), "expected": len(expected), "missing": 0, "extra": len(extra),
                            "extra_files": extra[:100]}}

    def fingerprint(self) -> str:
        return self.fingerprint_for(args={"path": str(self.root)})

    def _index_of(self, prompt_id: str, seed: int) -> int:
        from partbench.tasks.generation import image_seed

        for k in range(MAX_K_SEARCH):
            if image_seed(self.seed, prompt_id, k) == seed:
                return k
        raise PartbenchError(f"image-folder: seed {seed} is not on partbench's seed schedule for prompt {prompt_id!r}.")

    def generate(self, prompts: Sequence[PromptItem], seeds: Sequence[int]) -> list:
        from PIL import Image

        out = []
        for prompt, seed in zip(prompts, seeds):
            k = self._index_of(prompt.id, seed)
            path = _find(self.root, prompt.id, k)
            if path is None:
                raise PartbenchError(f"image-folder: {self.root / prompt.id / f'{k}.png'} is missing.")
            try:
                with Image.open(path) as im:
                    out.append(im.convert("RGB"))
            except OSError as e:
                raise PartbenchError(f"image-folder: {path} is not a readable image ({e}).") from None
        return out
