"""The numbers and words of a report page, ready for the template: the leaderboard (as `partbench table` shows it,
marks and footnotes included), the classes on which runs differ most, and the left/right breakdown table.

Plain data only (dataclasses of strings and numbers); pictures are made in `partbench.report.build`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from partbench.leaderboard.cells import cell_text, footnotes, protocol_text, row_flags
from partbench.leaderboard.tables import metric_label
from partbench.leaderboard.types import PUBLISHED, Table

DASH = "—"


@dataclass
class LeaderRow:
    label: str
    flags: list[str]
    cells: list[tuple[str, bool]]  # (text, best)
    protocol: str
    published: bool
    colour: str | None = None  # the run's colour in the plots (measured rows)


@dataclass
class Leaderboard:
    headers: list[str]
    rows: list[LeaderRow]
    notes: list[str]


def leaderboard(table: Table, colours: dict[str, str], decimals: int = 2) -> Leaderboard:
    """`table` as `partbench table --ci` prints it: bold best cells, row marks ((smoke), (partial), (stale),
    (incomplete data), (other data), (gt S,M)), published rows after a rule, the same footnotes."""
    headers = ["Run / method", *(metric_label(c) + (" ↓" if c in table.lower_is_better else "")
                                 for c in table.columns), "Conv."]
    rows = []
    for r in table.rows:
        label = r.label + (f" [{table.citation_index(r) + 1}]" if r.source == PUBLISHED else "")
        rows.append(LeaderRow(label, row_flags(r), [(cell_text(r, c, decimals, True), c in r.best)
                                                    for c in table.columns],
                              protocol_text(r), r.source == PUBLISHED,
                              None if r.source == PUBLISHED else colours.get(r.label)))
    return Leaderboard(headers, rows, footnotes(table, True, lambda i: f"[{i + 1}]"))


@dataclass
class ClassDiff:
    name: str
    unseen: bool
    ious: list[str]
    spread: float


def largest_differences(classes: Sequence[str], unseen: Sequence[bool], per_run: Sequence[Sequence[float | None]],
                        n: int = 15) -> list[ClassDiff]:
    """The `n` classes whose IoU differs most between the runs (max - min), largest first; ties by class order."""
    if len(per_run) < 2:
        return []
    found = []
    for k, name in enumerate(classes):
        values = [run[k] for run in per_run]
        known = [v for v in values if v is not None]
        if len(known) < 2:
            continue
        found.append((-(max(known) - min(known)), k,
                      ClassDiff(name, bool(unseen[k]), [DASH if v is None else f"{v:.1f}" for v in values],
                                max(known) - min(known))))
    return [d for _, _, d in sorted(found, key=lambda t: (t[0], t[1]))[:n]]


@dataclass
class LRRow:
    object: str
    pair: str
    facing: str
    gt: int
    cells: list[tuple[str, str]]  # per run: (mirror %, side error %)


@dataclass
class LRTable:
    by_facing: bool
    rows: list[LRRow]
    totals: list[tuple[str, str]] = field(default_factory=list)


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def lr_table(errors: dict[str, list]) -> LRTable:
    """Per (object, pair, facing), each run's mirror rate and side error; the totals are the runs' lr_confusion."""
    from partbench.analysis.leftright import ALL, PairErrors, as_table, pooled

    keys, keyed = as_table(errors)
    rows = []
    for key in keys:
        cells, gt = [], 0
        for name in errors:
            e = keyed[name].get(key) or PairErrors(*key, 0, 0, 0)
            gt = max(gt, e.gt)
            cells.append((_pct(e.mirror_rate), _pct(e.side_error)))
        rows.append(LRRow(*key, gt, cells))
    totals = [(_pct(pooled(e).mirror_rate), _pct(pooled(e).side_error)) for e in errors.values()]
    return LRTable(any(k[2] != ALL for k in keys), rows, totals)
