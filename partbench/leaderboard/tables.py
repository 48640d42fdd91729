"""Building tables: one `Table` per suite, with its columns, its published block and its best cells.

Measured rows come first, published rows after them. "Best" is computed per column separately within each block
(see `mark_best`), so a published number never makes a measured cell bold or the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from partbench.leaderboard.results import registered_suite
from partbench.leaderboard.types import PreferenceRow, Row, Table

if TYPE_CHECKING:
    from partbench.suites import Suite

METRIC_LABELS = {
    "seen_miou": "seen mIoU",
    "unseen_miou": "unseen mIoU",
    "h_iou": "h-IoU",
    "miou": "mIoU",
    "seen_pacc": "seen pAcc",
    "unseen_pacc": "unseen pAcc",
    "lr_confusion": "L/R conf.",
    "clip_score": "CLIP score",
    # part reasoning (Partonomy): macro gIoU per question type, then overall
    "giou_macro_identification": "ident. gIoU",
    "giou_macro_intersection": "inters. gIoU",
    "giou_macro_difference": "diff. gIoU",
    "giou_macro": "macro gIoU",
    "giou_micro": "micro gIoU",
    "ciou": "cIoU",
    # part editing (PartEdit-Bench, demo-edit; docs/partedit.md)
    "alpha_clip_fg": "αCLIP fg",
    "alpha_clip_bg": "αCLIP bg",
    "masked_clip_fg": "masked CLIP fg",
    "psnr_bg": "PSNR bg",
    "ssim_bg": "SSIM bg",
    "edit_error_fg": "edit err. fg",
}
LOWER_IS_BETTER = frozenset({"lr_confusion"})
PART_COLUMNS = ("seen_miou", "unseen_miou", "h_iou")
DEFAULT_COLUMNS = {
    "part-semantic": PART_COLUMNS,
    "part-instance": PART_COLUMNS,
    "generation": ("clip_score",),
}
# Shown when some row has them (lr_confusion: measured left/right confusion, lower is better).
OPTIONAL_COLUMNS = ("lr_confusion",)
# Task kinds whose samples hand methods a ground-truth mask a method may be registered as using (`uses_gt_mask`).
GT_MASK_TASKS = frozenset({"part-editing"})
# A row whose headline cells would all be "—" brings the first of these it has (e.g. the OV-PARTS cross-dataset
# number, which is a plain mIoU).
FALLBACK_COLUMNS = ("miou", "unseen_miou", "seen_miou", "h_iou", "clip_score")


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def is_lower_better(metric: str, rows: Sequence[Row]) -> bool:
    for r in rows:  # a results file's own declaration wins
        if metric in r.higher_is_better:
            return not r.higher_is_better[metric]
    return metric in LOWER_IS_BETTER


def infer_task(suite_obj: Suite | None, rows: Sequence[Row]) -> str | None:
    if suite_obj is not None:
        return suite_obj.task
    for r in rows:
        if r.task:
            return r.task
    if any(r.value("clip_score") is not None for r in rows):
        return "generation"
    return "part-semantic" if rows else None


def choose_columns(rows: Sequence[Row], task: str | None, override: Sequence[str] | None = None) -> list[str]:
    """The suite's headline metrics (+ lr_confusion when some row has it); `override` (--metrics) wins."""
    if override:
        return list(dict.fromkeys(override))
    cols = list(DEFAULT_COLUMNS.get(task or "part-semantic", PART_COLUMNS))
    for extra in OPTIONAL_COLUMNS:
        if extra not in cols and any(r.value(extra) is not None for r in rows):
            cols.append(extra)
    for r in rows:
        if all(r.value(c) is None for c in cols):
            for k in FALLBACK_COLUMNS:
                if r.value(k) is not None:
                    if k not in cols:
                        cols.append(k)
                    break
    return cols


def mark_best(table: Table) -> None:
    """Set `row.best` per column, separately within each block (`Table.blocks`: measured and published rows, each
    split into mask-given methods and the others) among its competing rows."""
    for r in table.rows:
        r.best = set()
    for block in table.blocks:
        contenders = [r for r in block if r.competes]
        for col in table.columns:
            values = [r.value(col) for r in contenders if r.value(col) is not None]
            if len(values) < 2:  # a lone value is not "best" of anything
                continue
            best = min(values) if col in table.lower_is_better else max(values)
            for r in contenders:
                v = r.value(col)
                if v is not None and math.isclose(v, best, rel_tol=0, abs_tol=1e-9):
                    r.best.add(col)


def _mark_mask_given(rows: list[Row], task: str | None) -> None:
    """Runs of methods registered as given the ground-truth mask (`MethodInfo.uses_gt_mask`, e.g. inpainting the
    part) solve an easier task than those that find the part: they get a block of their own, as in PartEdit's
    Table 1. A method this installation does not register (an imported run, a removed plugin) counts as not given it."""
    if task not in GT_MASK_TASKS or not rows:  # other tables never load the method registry (startup time)
        return
    from partbench.registry import METHODS

    for r in rows:
        info = METHODS.find((task, r.method.partition("@")[0]))
        r.uses_gt_mask = bool(getattr(info, "uses_gt_mask", False))


def _disambiguate(rows: list[Row]) -> None:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.label] = counts.get(r.label, 0) + 1
    for r in rows:
        if counts[r.label] > 1 and r.path is not None:
            r.label = f"{r.label} ({r.path.parent})"


def _mark_other_data(rows: list[Row]) -> None:
    """Runs scored on other data than most runs of the table (an edited or partial data root, another split) are
    not comparable with them: the most common data fingerprint is the table's, the others are marked."""
    # A `--limit` run's fingerprint covers only its own samples, an incomplete-data run's only the files that were
    # there: neither votes nor is marked (each has its own mark, `(partial)` or `(incomplete data)`).
    full = [r for r in rows if r.data_fingerprint and r.limit is None and not r.incomplete]
    prints = [r.data_fingerprint for r in full]
    if len(set(prints)) < 2:
        return
    common = max(dict.fromkeys(prints), key=prints.count)  # ties: the first listed
    for r in full:
        r.other_data = r.data_fingerprint != common


def _mark_other_ground_truth(rows: list[Row]) -> None:
    """Native ground truth and a test-size round trip (`--gt-resize`) score different maps: only the table's most
    common protocol competes for best, and every row on another protocol is marked (`other_gt`).

    Only rows that could otherwise be best vote (smoke, stale, partial, incomplete-data and other-data runs do
    not, as in `_mark_other_data`). A tie goes to the native annotations, partbench's default protocol; a tie
    between round trips only, to the first in sort order. With no voter, nothing is marked (nothing competes)."""
    if len({r.gt_resize for r in rows}) < 2:
        return
    voters = [r.gt_resize for r in rows if r.competes]  # other_gt/other_size are not set yet
    if not voters:
        return
    counts = {p: voters.count(p) for p in set(voters)}
    top = max(counts.values())
    tied = [p for p, n in counts.items() if n == top]
    common = None if None in tied else sorted(p for p in tied if p is not None)[0]
    for r in rows:
        r.other_gt = r.gt_resize != common


def _mark_other_size(rows: list[Row]) -> None:
    """Generation runs made at different image sizes (e.g. PartConcepts at its 512 training size, the FLUX baselines
    at 1024) are not compared on equal terms (CLIP scores see different images): only the table's most common size
    competes for best."""
    sizes = [r.image_size for r in rows if r.image_size]
    if len(set(sizes)) < 2:
        return
    common = max(dict.fromkeys(sizes), key=sizes.count)
    for r in rows:
        r.other_size = r.image_size is not None and r.image_size != common


def build_tables(
    measured: Sequence[Row],
    published: Sequence[Row] = (),
    suite: str | None = None,
    metrics: Sequence[str] | None = None,
    preferences: Sequence[PreferenceRow] = (),
) -> list[Table]:
    """One table per suite that has measured rows (or only `suite`); with no measured rows at all, one per suite
    that has published rows or preferences, so that `partbench table` on a fresh checkout shows the published
    leaderboard. A table carries its suite's published user-study `preferences`."""
    if suite is not None:
        suites = [suite]
    else:
        suites = list(dict.fromkeys(r.suite for r in measured)) or list(
            dict.fromkeys([r.suite for r in published] + [p.suite for p in preferences]))
    tables = []
    for name in suites:
        m_rows = [r for r in measured if r.suite == name]
        p_rows = [r for r in published if r.suite == name]
        prefs = [p for p in preferences if p.suite == name]
        if not m_rows and not p_rows and not prefs:
            continue
        _disambiguate(m_rows)
        _mark_other_data(m_rows)
        _mark_other_ground_truth(m_rows)
        _mark_other_size(m_rows)
        suite_obj = registered_suite(name)
        task = infer_task(suite_obj, m_rows or p_rows)
        _mark_mask_given(m_rows, task)
        # Each block together (Table.blocks), mask-given rows after the others, in their given order otherwise.
        rows = [r for part in (m_rows, p_rows) for given in (False, True) for r in part if r.uses_gt_mask is given]
        # A suite can name its own headline columns (e.g. unseen mIoU only, where h-IoU is undefined).
        cols = choose_columns(rows, task, metrics or getattr(suite_obj, "headline_metrics", None))
        table = Table(
            suite=name,
            title=suite_obj.title if suite_obj is not None else name,
            task=task,
            columns=cols,
            lower_is_better={c for c in cols if is_lower_better(c, m_rows)},
            rows=rows,
            citations=list(dict.fromkeys(r.citation or "" for r in p_rows)),
            current_version=str(suite_obj.version) if suite_obj is not None else None,
            note=getattr(suite_obj, "headline_note", "") or "",
            preferences=prefs,
        )
        mark_best(table)
        tables.append(table)
    return tables
