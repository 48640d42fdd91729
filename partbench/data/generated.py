"""Suites whose data is generated, not downloaded: made on first use by `partbench run` and `partbench score`.

A generated suite's folder is in one of three states:
- absent (or an empty folder): generated now, with a progress bar, exactly as `partbench data generate NAME` would;
- partial: files but no finished manifest (a generation was interrupted, or files were copied in by hand): refused
  with the command that regenerates it, since guessing what the user meant could overwrite their files;
- finished: used as it is. Files missing or changed *after* a finished generation are the data checks' business
  (`partbench.data.completeness`), which name them and allow `--allow-incomplete-data`.

Only the CLI calls `ensure_generated`; the library (`partbench.run.run`) never writes a dataset by itself, so a
library caller or a test that points at a missing folder gets the usual "data not found" error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# MANIFEST: what every generator writes last (partbench.data.demo writes one of the same name).
from partbench.data.generated_manifest import MANIFEST
from partbench.errors import PartbenchError


@dataclass(frozen=True)
class Generated:
    """How one generated suite is made: `generate(data_root)` writes its folder (and whatever it is built from)."""

    suite: str
    generate: Callable[[Path], object]


def _generate_demo(root: Path) -> object:
    from partbench.data.demo import generate_demo
    from partbench.suites import load_suite

    return generate_demo(load_suite("demo").dataset_path(root), seed=0, progress=True)


def _generate_demo_partonomy(root: Path) -> object:
    """Questions over the demo's val images: the demo first, when it is not there."""
    from partbench.data.demo import demo_is_complete
    from partbench.data.demo_partonomy import generate_demo_partonomy
    from partbench.suites import load_suite

    if not demo_is_complete(load_suite("demo").dataset_path(root)):
        ensure_generated("demo", root)
    return generate_demo_partonomy(root, seed=0)


def _generate_demo_edit(root: Path) -> object:
    """Part edits over the demo's val images: the demo first, when it is not there."""
    from partbench.data.demo import demo_is_complete
    from partbench.data.demo_edit import generate_demo_edit
    from partbench.suites import load_suite

    if not demo_is_complete(load_suite("demo").dataset_path(root)):
        ensure_generated("demo", root)
    return generate_demo_edit(root, seed=0)


GENERATED: dict[str, Generated] = {
    "demo": Generated("demo", _generate_demo),
    "demo-partonomy": Generated("demo-partonomy", _generate_demo_partonomy),
    "demo-edit": Generated("demo-edit", _generate_demo_edit),
}


def _distributed() -> bool:
    """Several processes of one run (torchrun, accelerate) would generate the same folder at the same time."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def generate_command(suite: str, data_root: Path, explicit_root: bool) -> str:
    return f"partbench data generate {suite}" + (f" --data-root {data_root}" if explicit_root else "")


def ensure_generated(suite: str, data_root: Path, explicit_root: bool = False, shard: str | None = None,
                     note: Callable[[str], None] | None = None) -> bool:
    """Generate `suite`'s data under `data_root` when its folder is absent; True when it generated something.

    Not a generated suite, or already generated: nothing happens. A partial folder is a `PartbenchError` naming the
    command that regenerates it. Jobs of a sharded or multi-process run never generate (they would race each other
    over the same files): they are told to generate first.
    """
    if suite not in GENERATED:
        return False
    from partbench.suites import load_suite

    folder = load_suite(suite).dataset_path(data_root)
    command = generate_command(suite, data_root, explicit_root)
    if (folder / MANIFEST).is_file():
        return False
    if folder.is_dir() and any(folder.iterdir()):
        raise PartbenchError(f"{folder}: the {suite} suite's folder is incomplete (no {MANIFEST}: a generation was "
                             f"interrupted, or the files were put there by hand). Regenerate it with `{command}`.")
    if shard is not None or _distributed():
        raise PartbenchError(f"{folder}: the {suite} suite's data is not generated yet, and the jobs of a sharded or "
                             f"multi-process run cannot generate it together. Run `{command}` first.")
    if note is not None:
        note(f"{suite}: first use, generating its data at {folder} (as `{command}` does)")
    GENERATED[suite].generate(Path(data_root))
    return True
