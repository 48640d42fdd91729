"""The rows and tables every leaderboard format renders, and the number check both input kinds share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError

MEASURED = "measured"
PUBLISHED = "published"
DASH = "—"


@dataclass
class Row:
    """One line of a table: a measured run (from a results file) or a published number (from published.yaml)."""

    source: str  # MEASURED | PUBLISHED
    suite: str
    label: str
    method: str
    metrics: dict[str, float | None]
    ci95: dict[str, tuple[float, float]] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    task: str | None = None
    convention: str | None = None
    setting: str | None = None
    run_name: str | None = None
    suite_version: str | None = None
    n_samples: int | None = None
    smoke: bool = False
    stale: str | None = None  # the reason ("re-run: suite changed from v1 to v2"), None when current
    limit: int | None = None  # a run over the first N samples only (`run --limit N`)
    data_fingerprint: str | None = None  # the data it was scored on (partbench.store.inputs)
    incomplete: bool = False  # scored with --allow-incomplete-data on data with missing files
    other_data: bool = False  # scored on other data than most runs of its table
    gt_resize: str | None = None  # "SHORT,MAX": ground truth through the official test-size round trip
    other_gt: bool = False  # its ground truth protocol (native or a round trip) is not the table's most common
    image_size: str | None = None  # generation: "WxH" the images were generated at (method_config.image_size)
    other_size: bool = False  # generated at another size than most runs of its table (not comparable)
    citation: str | None = None
    note: str | None = None
    unverified: bool = False  # published: taken from a secondary source, not yet checked against the original
    uses_gt_mask: bool = False  # given the ground-truth part mask (registry `MethodInfo.uses_gt_mask`): own block
    decimals: int | None = None  # published rows: as printed in the source; measured: the table's --decimals
    path: Path | None = None
    best: set[str] = field(default_factory=set)

    @property
    def competes(self) -> bool:
        """Whether this row can hold a best cell (smoke, stale, partial, incomplete-data runs, runs on other data
        than the rest of the table and runs generated at another image size cannot)."""
        return (not self.smoke and self.stale is None and self.limit is None and not self.incomplete
                and not self.other_data and not self.other_gt and not self.other_size)

    def value(self, metric: str) -> float | None:
        return self.metrics.get(metric)


@dataclass
class PreferenceRow:
    """A published user-study result: `percent` of `responses` two-alternative forced choices preferred `method`'s
    edit (or image) over `versus`'s (published.yaml `preferences`)."""

    suite: str
    method: str
    versus: str
    percent: float
    responses: int
    citation: str
    decimals: int | None = None  # as printed in the source
    versus_uses_gt_mask: bool = False  # `versus` was given the ground-truth mask (PartEdit's mask-based baselines)
    question: str | None = None  # what the raters were asked
    note: str | None = None
    unverified: bool = False
    path: Path | None = None


@dataclass
class Table:
    suite: str
    title: str
    task: str | None
    columns: list[str]
    lower_is_better: set[str]
    rows: list[Row]  # measured block, then published block
    citations: list[str] = field(default_factory=list)  # published sources in order of first appearance
    current_version: str | None = None
    note: str = ""  # the suite's `headline_note`: why its default columns differ (e.g. unseen-only evaluation)
    preferences: list[PreferenceRow] = field(default_factory=list)  # published user-study results on the suite

    @property
    def measured(self) -> list[Row]:
        return [r for r in self.rows if r.source == MEASURED]

    @property
    def published(self) -> list[Row]:
        return [r for r in self.rows if r.source == PUBLISHED]

    @property
    def blocks(self) -> list[list[Row]]:
        """The rows in the blocks that are ranked separately, in table order: measured, then published, each split
        into methods that find the part themselves and mask-given ones (`uses_gt_mask`); empty blocks left out."""
        out = [[r for r in part if r.uses_gt_mask is given] for part in (self.measured, self.published)
               for given in (False, True)]
        return [b for b in out if b]

    def citation_index(self, row: Row) -> int:
        return self.citations.index(row.citation or "")



def metric_number(value: Any, where: str) -> float | None:
    """A metric value as a float (NaN and null become None); anything else is a `PartbenchError` naming `where`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PartbenchError(f"{where} must be a number or null, not {value!r}.")
    value = float(value)
    return None if math.isnan(value) else value
