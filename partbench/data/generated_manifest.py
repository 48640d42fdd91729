"""The manifest a generator of a demo suite writes last (`demo-edit`, `demo-partonomy`), and the check that reads it.

A folder is a finished generation when its manifest names this generator version and the seed (and number of
images) asked for, and the suite's data file is there: files written before the manifest may be left by an
interrupted generation, the manifest only by a finished one. (The demo suite itself checks more: every split's file
counts, `partbench.data.demo.demo_is_complete`.) `partbench.data.generated` decides from the manifest alone whether a
folder is generated, partial or absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from partbench.store.atomic import atomic_write_json

MANIFEST = "manifest.json"


def write_manifest(folder: Path, generator: str, version: int, seed: int, n_images: int, source: dict[str, Any],
                   splits: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Write `folder/manifest.json` (last, once every other file is written) and return it."""
    manifest = {"generator": generator, "generator_version": version, "seed": seed, "n_images": n_images,
                "source": source, "splits": splits}
    atomic_write_json(Path(folder) / MANIFEST, manifest)
    return manifest


def generation_is_complete(folder: Path, version: int, seed: int, n_images: int | None, data_file: str) -> bool:
    """A finished generation by generator `version`, for `seed` (and `n_images`, if given), with its data file."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict) and manifest.get("generator_version") == version
            and manifest.get("seed") == seed and (n_images is None or manifest.get("n_images") == n_images)
            and (folder / data_file).is_file())
