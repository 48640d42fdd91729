"""Is a split's data all there? Counts checked against what the dataset documents, and files checked against their
partners.

Two checks, both naming files:
- *consistency*, from the reader's `inventory`: every image has its annotation files and every annotation file its
  image (an annotation PNG deleted from an OV-PARTS folder would otherwise just make the split smaller);
- *counts*, where they are documented: the suite YAML's `expected_counts` (with their source), else the dataset
  folder's `manifest.json` written by `partbench data generate`, compared with what the reader finds.

`run` and `score` refuse an incomplete data root unless told `--allow-incomplete-data`, and then record
`data.complete: false` in results.json, which `partbench table` marks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from partbench.data.readers import Reader, SampleIndex
    from partbench.suites import Suite

MANIFEST = "manifest.json"
SHOWN_PROBLEMS = 20  # in results.json and error messages; `data verify` lists more


@dataclass
class Inventory:
    """What a reader finds on disk for a split: counts by kind of thing, and each file without its partners."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class Completeness:
    split: str
    counts: dict[str, int]  # observed: images, samples, ...
    expected: dict[str, int]  # documented, where known
    expected_from: str | None  # where the expected counts come from
    problems: list[str]

    @property
    def complete(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, Any]:
        """What results.json records under `data` (beside the data fingerprint)."""
        out: dict[str, Any] = {"complete": self.complete, "counts": self.counts}
        if self.expected:
            out |= {"expected_counts": self.expected, "expected_from": self.expected_from}
        if self.problems:
            out["problems"] = self.problems[:SHOWN_PROBLEMS] + (
                [f"... {len(self.problems) - SHOWN_PROBLEMS} more"] if len(self.problems) > SHOWN_PROBLEMS else [])
        return out

    def listed_problems(self) -> str:
        """The first SHOWN_PROBLEMS problems, one indented line each, and how many more there are."""
        shown = "\n".join(f"  {p}" for p in self.problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {len(self.problems) - SHOWN_PROBLEMS} more" if len(self.problems) > SHOWN_PROBLEMS else ""
        return shown + more

    def fit_refusal(self, suite: str, who: str, flag: str, record: str) -> str:
        """Why `who` will not learn from this split (a model fitted on part of it would pass for one fitted on all
        of it), and the `flag` that lets it, after which `record` notes the problems."""
        return (f"{who} learns from the {self.split!r} split of {suite!r}, which is incomplete:\n"
                f"{self.listed_problems()}\nRestore the missing files (`partbench data verify {suite}` lists every "
                f"problem), or pass {flag} to learn from what is there; {record} then records the problems.")

    def message(self, suite: str) -> str:
        return (f"Suite {suite!r} ({self.split} split): the data is incomplete:\n{self.listed_problems()}\n"
                f"Restore the missing files (`partbench data verify {suite}` lists every problem), or pass "
                f"--allow-incomplete-data to score what is there; results.json then records complete: false and "
                f"`partbench table` marks the run.")


def check_completeness(suite: Suite, reader: Reader, split: str, index: SampleIndex | None = None) -> Completeness:
    """The reader's inventory, the sample count when the full `index` is given, and both against documented
    counts."""
    inventory = reader.inventory(split) if hasattr(reader, "inventory") else Inventory()
    counts = dict(inventory.counts)
    if index is not None:
        counts["samples"] = len(index.refs)
    expected, source = _expected_counts(suite, getattr(reader, "root", None), split)
    problems = list(inventory.problems) + preparation_problems(getattr(reader, "root", None), split)
    for what, n in expected.items():
        if what in counts and counts[what] != n:
            problems.append(f"{split}: {counts[what]} {what} found, {n} expected ({source}).")
    return Completeness(split, counts, expected, source if expected else None, problems)


def _expected_counts(suite: Suite, dataset_dir: Path | None, split: str) -> tuple[dict[str, int], str | None]:
    documented = (suite.expected_counts or {}).get(split)
    if documented:
        return dict(documented), suite.expected_counts_source or f"suite {suite.name}"
    if dataset_dir is None:
        return {}, None
    path = Path(dataset_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        listed = manifest["splits"][split]
        return {k: int(listed[k]) for k in ("images", "samples") if k in listed}, str(path)
    except (OSError, ValueError, KeyError, TypeError):
        return {}, None


def preparation_problems(dataset_dir: Path | None, split: str) -> list[str]:
    """What the dataset folder's manifest.json says its preparation left undone for `split`: images that failed
    their checks, or were never made (a `--limit`, an earlier stop). The counts check cannot see these: the manifest's
    counts are what was made, and the folder holds exactly that.

    Manifests that record the source's count per split (`source_images`) are judged per split (a `--split val`
    preparation makes val complete); older ones only by their overall `complete` / `failed`.
    """
    if dataset_dir is None:
        return []
    path = Path(dataset_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict):
        return []
    splits = manifest.get("splits") if isinstance(manifest.get("splits"), dict) else {}
    listed = splits.get(split) if isinstance(splits.get(split), dict) else {}
    limit = manifest.get("limit") if isinstance(manifest.get("limit"), int) else None
    try:
        if "source_images" in listed:
            made, total = int(listed.get("images", 0)), int(listed["source_images"])
            if made >= total:
                return []
            failed = int(listed.get("failed", 0))
            missing = [f"{split} has {made} of the source's {total} images"]
        else:
            failed_ids = manifest.get("failed") if isinstance(manifest.get("failed"), list) else []
            if manifest.get("complete", True) is not False and not failed_ids and limit is None:
                return []
            failed = len(failed_ids)
            missing = [f"{split} has {listed['images']} images" if "images" in listed else f"{split} is not finished"]
        if failed:
            missing.append(f"{failed} failed their checks")
        if limit is not None:
            prepared = manifest.get("prepared_splits") or list(splits)
            source_total = sum(int(splits[s]["source_images"]) for s in prepared
                               if isinstance(splits.get(s), dict) and "source_images" in splits[s])
            of = f" of {source_total} source images" if source_total else ""
            missing.append(f"limited to --limit {limit}{of}")
    except (KeyError, ValueError, TypeError):
        return [f"{path}: unreadable preparation record (run the preparation again)."]
    return [f"{path}: the preparation is incomplete: {', '.join(missing)}; run the `partbench data prepare` command "
            f"that made it again (without --limit) to finish it."]


def missing_partners(groups: list[tuple[Path, str, dict[str, Path]]]) -> list[str]:
    """Problems for ids present in some groups of files but not in others.

    `groups` holds (folder, file suffix, {id: path}) triples; each id missing from a folder is named with the file it
    should be and a partner that exists: "…/annotations_detectron2_part/val/x.png: missing (…/images/val/x.jpg
    exists)".
    """
    every: dict[str, Path] = {}
    for _, _, files in groups:
        for key, path in files.items():
            every.setdefault(key, path)
    problems = []
    for folder, suffix, files in groups:
        for key in sorted(every.keys() - files.keys()):
            problems.append(f"{folder / (key + suffix)}: missing ({every[key]} exists).")
    return problems


def file_names(folder: Path) -> set[str]:
    """The names of the files in `folder`, from one listing instead of a stat per file; none if the folder is not
    there (the readers' `check` names a missing folder)."""
    try:
        with os.scandir(folder) as entries:
            return {e.name for e in entries if e.is_file()}
    except OSError:
        return set()
