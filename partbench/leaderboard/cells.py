"""Cell text, row markers and footnotes: the parts every format shares, so the formats say the same thing."""

from __future__ import annotations

from collections.abc import Callable

from partbench.leaderboard.tables import metric_label
from partbench.leaderboard.types import DASH, PUBLISHED, Row, Table

GT_PROTOCOL_RULE = ("only the table's most common ground-truth protocol, among the runs that can be best, competes "
                    "for best (a tie goes to the native annotations, partbench's default); this run never counts "
                    "as best.")


def fmt_number(value: float | None, decimals: int) -> str:
    return DASH if value is None else f"{value:.{decimals}f}"


def row_decimals(row: Row, default: int) -> int:
    return row.decimals if (row.source == PUBLISHED and row.decimals is not None) else default


def cell_text(row: Row, col: str, decimals: int, ci: bool, pm: str = "±") -> str:
    d = row_decimals(row, decimals)
    v = row.value(col)
    text = fmt_number(v, d)
    if ci and v is not None and col in row.ci95:
        lo, hi = row.ci95[col]
        text += f" {pm} {(hi - lo) / 2:.{d}f}"
    return text


def starts_block(rows: list[Row], i: int) -> bool:
    """Whether row `i` begins another block than the row above it (`Table.blocks`: formats draw a rule there)."""
    return i > 0 and (rows[i].source, rows[i].uses_gt_mask) != (rows[i - 1].source, rows[i - 1].uses_gt_mask)


def row_flags(row: Row) -> list[str]:
    flags = ["(GT mask)"] if row.uses_gt_mask else []
    if row.smoke:
        flags.append("(smoke)")
    if row.stale:
        flags.append("(stale)")
    if row.limit is not None:
        flags.append("(partial)")
    if row.incomplete:
        flags.append("(incomplete data)")
    if row.other_data:
        flags.append("(other data)")
    if row.unverified:
        flags.append("(unverified)")
    if row.gt_resize:
        flags.append(f"(gt {row.gt_resize})")
    elif row.other_gt:  # native annotations, but the table's protocol is a round trip: not counted as best
        flags.append("(gt native)")
    if row.other_size:
        flags.append(f"({row.image_size})")
    return flags


def protocol_text(row: Row) -> str:
    """Averaging convention, plus the setting when it is not the oracle-object default."""
    text = row.convention or DASH
    if row.setting and row.setting != "oracle-object":
        text += f", {row.setting}"
    return text


def measured_protocol_note(table: Table) -> str | None:
    """'Measured runs: convention ovparts; tiny: partcatseg, pred-all.' (for formats without a Conv. column)."""
    texts = [protocol_text(r) for r in table.measured if r.convention or r.setting]
    if not texts:
        return None
    common = max(set(texts), key=texts.count)
    others = [f"{r.label}: {protocol_text(r)}" for r in table.measured if protocol_text(r) != common]
    return f"Measured runs: convention {common}" + "".join(f"; {o}" for o in others) + "."


def _citation_notes(table: Table, citation: str) -> str:
    rows = [r for r in table.published if (r.citation or "") == citation]
    notes = list(dict.fromkeys(r.note for r in rows if r.note))
    if not notes:
        return ""
    parts = []
    for n in notes:
        owners = [r.method for r in rows if r.note == n]
        parts.append(n if len(owners) == len(rows) else f"{', '.join(dict.fromkeys(owners))}: {n}")
    return " ".join(parts)


def footnotes(table: Table, ci: bool, marker: Callable[[int], str]) -> list[str]:
    """Plain-text footnotes for one table; `marker(i)` gives the format's marker for published source i."""
    notes = []
    lower = [metric_label(c) for c in table.columns if c in table.lower_is_better]
    rule = "Bold: best per column, computed separately among the measured runs (smoke and stale runs excluded) and "
    rule += "among the published rows, where a block has two or more values."
    if lower:
        rule += f" ↓ lower is better ({', '.join(lower)})."
    notes.append(rule)
    if ci and any(c in r.ci95 for r in table.rows for c in table.columns):
        notes.append("± is half the width of the 95% confidence interval (ci95 in results.json).")
    if any(r.value(c) is None for r in table.rows for c in table.columns):
        notes.append(f"{DASH} not defined or not reported (e.g. h-IoU on a suite with only unseen classes).")
    if any(r.smoke for r in table.rows):
        notes.append(
            "(smoke): results.json says meaningful: false (a smoke run or pipeline check, e.g. a tiny random "
            "model or the oracle); its numbers say nothing about a method and never count as best."
        )
    for r in table.rows:
        if r.stale:
            notes.append(f"(stale) {r.label}: {r.stale}.")
        if r.limit is not None:
            notes.append(f"(partial) {r.label}: run with --limit {r.limit}, only the first {r.limit} samples of the "
                         "split; not comparable with full runs, and never counted as best.")
        if r.gt_resize:
            notes.append(f"(gt {r.gt_resize}) {r.label}: ground truth through the test-size round trip {r.gt_resize} "
                         "(--gt-resize), as the official OV-PARTS/PartCATSeg/LangHOPS evaluators score a method "
                         "tested at that size; other runs use the native annotations"
                         + (f"; {GT_PROTOCOL_RULE}" if r.other_gt else "."))
        elif r.other_gt:
            common = next((x.gt_resize for x in table.measured if x.gt_resize and not x.other_gt), None)
            notes.append(f"(gt native) {r.label}: scored on the native annotations, while this table's protocol is "
                         f"the test-size round trip {common or '(--gt-resize)'}; {GT_PROTOCOL_RULE}")
        if r.incomplete:
            notes.append(f"(incomplete data) {r.label}: scored with --allow-incomplete-data on a data root with "
                         "missing files (see data.problems in its results.json); never counted as best.")
    if any(r.uses_gt_mask for r in table.rows):
        notes.append("(GT mask): the method is given the ground-truth part mask (e.g. inpaints it), so it solves an "
                     "easier task than methods that find the part themselves; such rows form a block of their own, "
                     "with best values computed within it.")
    if any(r.unverified for r in table.rows):
        notes.append("(unverified): a published number taken from a secondary source (see its note), not yet checked "
                     "against the original paper.")
    other = [r for r in table.rows if r.other_data]
    if other:
        common = next(r.data_fingerprint for r in table.rows if r.data_fingerprint and not r.other_data)
        notes.append("(other data): scored on other data than the rest of this table (data fingerprint "
                     + ", ".join(f"{r.label} {(r.data_fingerprint or '')[:8]}" for r in other)
                     + f"; the others {common[:8]}): the data root changed between the runs, or they read another "
                     "split; not comparable, and never counted as best.")
    sizes = {r.image_size for r in table.measured if r.image_size}
    if len(sizes) == 1:
        notes.append(f"Images generated at {sizes.pop()} by every run that records its size.")
    elif sizes:
        notes.append("(WxH): generated at another image size than most runs of this table ("
                     + ", ".join(f"{r.label} {r.image_size}" for r in table.measured if r.image_size)
                     + "): CLIP scores and A/B items of different sizes are not compared on equal terms; never "
                     "counted as best. Re-run with the same size (PartConcepts `-a resolution=N`, FLUX baselines "
                     "`-a height=N -a width=N`).")
    if table.published:
        notes.append(
            "Published rows are quoted from their sources, not re-run here; their evaluator and averaging "
            "convention may differ from the measured runs'."
        )
        for i, c in enumerate(table.citations):
            extra = _citation_notes(table, c)
            notes.append(f"{marker(i)} {c}." + (f" {extra}" if extra else ""))
    if table.note:
        notes.append(table.note)
    return notes
