"""Helpers shared by the `partbench table` tests: results files to tabulate, markdown rows to compare."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "leaderboards" / "published.yaml"
# The reference collection sits next to the repository (`../shared/reference`); a plain clone has none.
SHARED_REFERENCE = REPO.parent / "shared" / "reference" / "published" / "partconcepts-paper.yaml"
PAPER_T1 = "PartConcepts: A Unified Mechanism for Fine-Grained Part Localization and Generation, Table 1"
UNREGISTERED = "not-a-registered-suite"


def suite_version(name: str = "pascal-part-116") -> str:
    from partbench.suites import load_suite

    return str(load_suite(name).version)


def write_result(run_dir: Path, **fields) -> Path:
    """A complete results.json (as `partbench.run.results` writes it) with `fields` overriding the defaults; a value
    None deletes a key."""
    data = {
        "schema_version": 1,
        "suite": "pascal-part-116",
        "suite_version": suite_version(),
        "split": "val",
        "task": "part-semantic",
        "method": run_dir.name.split("@")[0],
        "method_args": {},
        "run_name": run_dir.name,
        "convention": "ovparts",
        "setting": "oracle-object",
        "n_samples": 24,
        "n_skipped": {"no_part_classes": 0, "empty_ground_truth": 0},
        "metrics": {"h_iou": 12.3, "seen_miou": 15.0, "unseen_miou": 10.4, "miou": 13.1},
        "higher_is_better": {"h_iou": True, "seen_miou": True, "unseen_miou": True, "lr_confusion": False},
        "ci95": {},
        "meaningful": True,
        "per_class": [],
        "provenance": {"partbench": "0.1.0", "git": "abc123", "command": "test", "created": "2026-11-21T00:00:00"},
    }
    for k, v in fields.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "results.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def md_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell (label)."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| Run"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows
