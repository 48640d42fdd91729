"""The output formats of `partbench table`: rich (terminal), markdown, latex (booktabs), json and csv.

Each takes the tables from `build_tables`; rich, markdown and latex show formatted cells with bold best values and
footnotes, json and csv carry raw numbers, one record per row. Only rich imports anything beyond the stdlib (rich
itself, when called).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from partbench.leaderboard import preferences
from partbench.leaderboard.cells import (
    cell_text,
    footnotes,
    measured_protocol_note,
    protocol_text,
    row_flags,
    starts_block,
)
from partbench.leaderboard.tables import metric_label
from partbench.leaderboard.types import MEASURED, PUBLISHED, Row, Table

FORMATS = ("rich", "markdown", "latex", "csv", "json")

# LaTeX footnote markers for the published sources of one table, in order.
LATEX_MARKERS = (r"\dag", r"\ddag", r"\S", r"\P", r"\|", r"\dag\dag", r"\ddag\ddag", r"\S\S", r"\P\P")


def render_rich(tables: Sequence[Table], ci: bool = False, decimals: int = 2, width: int | None = None) -> list:
    """Rich renderables (tables and their footnotes), for `console.print`.

    Within `width` columns (the terminal's), nothing is cut: where the table would not fit, each interval goes under
    its value, then runs' args hashes are shortened to 4 characters (never a method name), and where even that is too
    wide, each row becomes a block of `metric  value` lines.
    """
    from rich.console import Console, Group
    from rich.text import Text

    from partbench.textfit import min_width, never_cut, stacked_records

    measure = Console(width=width or 80)
    out = []
    for t in tables:
        if not t.rows:  # a suite with published user-study preferences only
            out.append(Group(_rich_title(t), *preferences.rich_block(t)))
            continue
        for stack, short in ((False, False), (True, False), (True, True)):
            headers, rows = _rich_cells(t, ci, decimals, stack, short)
            rt = _rich_table(t, headers, rows)
            fits = width is None or min_width(rt, measure) <= width
            if fits:
                break
        if not fits:  # one block per row: room again for the whole label and "value ± half-width" on one line
            headers, rows = _rich_cells(t, ci, decimals, False, False)
        shown = never_cut(rt) if fits else stacked_records(None, headers, [cells for cells, _ in rows])
        notes = footnotes(t, ci, lambda i: f"[{i + 1}]")
        out.append(Group(_rich_title(t), shown, *(Text(n, style="dim") for n in notes), Text(""),
                         *preferences.rich_block(t)))
    return out


def _short_label(label: str) -> str:
    """`partconcepts@61c2ab34` -> `partconcepts@61c2`: the args hash shortened, the method name kept whole."""
    name, at, rest = label.partition("@")
    head, space, tail = rest.partition(" ")
    if at and len(head) == 8 and all(ch in "0123456789abcdef" for ch in head):
        return f"{name}@{head[:4]}{space}{tail}"
    return label


def _rich_title(t: Table):
    from rich.text import Text

    title = Text(t.title, style="bold")
    if t.title != t.suite:
        title.append(f"  ({t.suite})", style="dim")
    return title


def _rich_cells(t: Table, ci: bool, decimals: int, stack: bool, short: bool) -> tuple[list[str], list]:
    """Headers, and per row its cells (rich Text) with the row itself; `stack` puts each interval under its value,
    `short` shortens args hashes."""
    from rich.text import Text

    headers = ["Run / method", *(metric_label(c) + (" ↓" if c in t.lower_is_better else "") for c in t.columns),
               "Conv."]
    rows = []
    for r in t.rows:
        label = Text(_short_label(r.label) if short and r.source != PUBLISHED else r.label)
        if r.source == PUBLISHED:
            label.append(f" [{t.citation_index(r) + 1}]")
        for flag in row_flags(r):
            label.append(" " + flag, style="yellow" if flag == "(smoke)" else "red")
        cells = []
        for c in t.columns:
            text = cell_text(r, c, decimals, ci)
            if stack:  # "31.85 ± 3.00" -> "31.85" over "± 3.00": a number and its interval never split apart
                text = text.replace(" ± ", "\n± ")
            cells.append(Text(text, style="bold" if c in r.best else ""))
        rows.append(([label, *cells, Text(protocol_text(r))], r))
    return headers, rows


def _rich_table(t: Table, headers: list[str], rows: list):
    from rich import box
    from rich.table import Table as RichTable

    rt = RichTable(box=box.SIMPLE_HEAD)
    rt.add_column(headers[0])
    for h in headers[1:-1]:
        rt.add_column(h, justify="right", no_wrap=True)
    rt.add_column(headers[-1], style="dim")
    in_order = [r for _, r in rows]
    for i, (cells, r) in enumerate(rows):
        if starts_block(in_order, i):
            rt.add_section()
        rt.add_row(*cells, style="dim" if r.source == PUBLISHED else None)
    return rt


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def render_markdown(tables: Sequence[Table], ci: bool = False, decimals: int = 2) -> str:
    blocks = []
    for t in tables:
        lines = [f"### {_md_escape(t.title)}" + (f" (`{t.suite}`)" if t.title != t.suite else ""), ""]
        if not t.rows:
            blocks.append("\n".join(lines + preferences.markdown_block(t, _md_escape)))
            continue
        header = ["Run / method"]
        header += [metric_label(c) + (" ↓" if c in t.lower_is_better else "") for c in t.columns]
        header += ["Conv.", "Source"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join([":---"] + ["---:"] * len(t.columns) + [":---", ":---"]) + "|")
        for r in t.rows:
            label = " ".join([_md_escape(r.label), *row_flags(r)])
            cells = []
            for c in t.columns:
                text = cell_text(r, c, decimals, ci)
                cells.append(f"**{text}**" if c in r.best else text)
            source = MEASURED if r.source == MEASURED else f"published [{t.citation_index(r) + 1}]"
            lines.append("| " + " | ".join([label, *cells, _md_escape(protocol_text(r)), source]) + " |")
        lines.append("")
        lines += [f"- {_md_escape(n)}" for n in footnotes(t, ci, lambda i: f"[{i + 1}]")]
        blocks.append("\n".join(lines + preferences.markdown_block(t, _md_escape)))
    return "\n\n".join(blocks) + "\n"


_LATEX_CHARS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "→": r"$\rightarrow$",
    "↓": r"$\downarrow$",
    "±": r"$\pm$",
    "—": "--",
    "–": "--",
    "·": r"$\cdot$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_CHARS.get(ch, ch) for ch in text)


def _latex_marker(i: int) -> str:
    return LATEX_MARKERS[i % len(LATEX_MARKERS)]


def render_latex(tables: Sequence[Table], ci: bool = False, decimals: int = 2) -> str:
    """booktabs tables (needs \\usepackage{booktabs}); numbers right-aligned, a \\midrule before each block (the
    published rows; mask-given methods)."""
    blocks = []
    for t in tables:
        if not t.rows:
            blocks.append(f"% partbench table: suite {t.suite}\n" + "\n".join(preferences.latex_block(t, latex_escape)))
            continue
        lines = [
            f"% partbench table: suite {t.suite} (requires \\usepackage{{booktabs}})",
            r"\begin{table}[t]",
            r"\centering",
            r"\begin{tabular}{l" + "r" * len(t.columns) + "}",
            r"\toprule",
        ]
        header = ["Method"] + [
            latex_escape(metric_label(c)) + (r" $\downarrow$" if c in t.lower_is_better else "") for c in t.columns
        ]
        lines.append(" & ".join(header) + r" \\")
        lines.append(r"\midrule")
        for i, r in enumerate(t.rows):
            if starts_block(t.rows, i):
                lines.append(r"\midrule")
            label = latex_escape(r.label)
            if r.source == PUBLISHED:
                label += r"\textsuperscript{" + _latex_marker(t.citation_index(r)) + "}"
            for flag in row_flags(r):
                label += " " + latex_escape(flag)
            cells = []
            for c in t.columns:
                text = latex_escape(cell_text(r, c, decimals, ci))
                cells.append(r"\textbf{" + text + "}" if c in r.best else text)
            lines.append(" & ".join([label, *cells]) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        # footnotes() puts a placeholder where a source marker goes; it is replaced after escaping.
        rule, *rest = footnotes(t, ci, lambda i: f"\x00{i}\x00")
        protocol = measured_protocol_note(t)
        if protocol:
            rest.insert(0, protocol)
        lines.append(r"\caption{" + latex_escape(t.title) + ". " + latex_escape(rule) + "}")
        if rest:
            lines.append(r"\par\smallskip\footnotesize")
            for j, n in enumerate(rest):
                text = latex_escape(n)
                for i in range(len(t.citations)):
                    text = text.replace(f"\x00{i}\x00", r"\textsuperscript{" + _latex_marker(i) + "}")
                lines.append(text + (r"\\" if j < len(rest) - 1 else ""))
        lines.append(r"\end{table}")
        blocks.append("\n".join(lines + preferences.latex_block(t, latex_escape)))
    return "\n\n".join(blocks) + "\n"


def _record(t: Table, r: Row) -> dict[str, Any]:
    """A row as a plain dict with raw numbers (CSV and JSON). `label` is the bare run label; `flags` are the marks the
    rich/markdown/latex formats append to it, and the comparability fields below say the same explicitly."""
    measured = r.source == MEASURED
    return {
        "kind": "row",
        "suite": t.suite,
        "suite_title": t.title,
        "source": r.source,
        "label": r.label,
        "method": r.method,
        "run_name": r.run_name,
        "metrics": {c: r.value(c) for c in t.columns},
        "ci95": {c: list(r.ci95[c]) for c in t.columns if c in r.ci95},
        "best": [c for c in t.columns if c in r.best],
        "lower_is_better": [c for c in t.columns if c in t.lower_is_better],
        "convention": r.convention,
        "setting": r.setting,
        "smoke": r.smoke,
        "meaningful": not r.smoke,
        "uses_gt_mask": r.uses_gt_mask,
        "stale": r.stale is not None,
        "stale_reason": r.stale,
        "flags": row_flags(r),
        "competes": r.competes,  # whether this row can hold a best cell
        "gt_resize": r.gt_resize,  # None: native annotations
        "other_gt": r.other_gt,  # on another ground-truth protocol than the table's: never best
        "limit": r.limit,
        "partial": r.limit is not None,
        "data_complete": (not r.incomplete) if measured else None,
        "data_fingerprint": r.data_fingerprint,
        "other_data": r.other_data,
        "image_size": r.image_size,
        "other_size": r.other_size,
        "suite_version": r.suite_version,
        "current_suite_version": t.current_version,
        "n_samples": r.n_samples,
        "decimals": r.decimals,
        "citation": r.citation,
        "note": r.note,
        "path": str(r.path) if r.path is not None and r.source == MEASURED else None,
    }


def render_json(tables: Sequence[Table]) -> str:
    """Per table its rows (`kind: row`), then its published user-study preferences (`kind: preference`)."""
    records = [rec for t in tables for rec in [*(_record(t, r) for r in t.rows), *preferences.records(t)]]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def render_csv(tables: Sequence[Table]) -> str:
    """One CSV for all tables (a `suite` column); metric columns are the union over the tables, raw numbers."""
    metric_cols = list(dict.fromkeys(c for t in tables for c in t.columns))
    ci_cols = [c for c in metric_cols if any(c in r.ci95 for t in tables for r in t.rows)]
    head = ["suite", "suite_title", "source", "label", "method", "run_name"]
    tail = ["best", "convention", "setting", "smoke", "meaningful", "uses_gt_mask", "stale", "stale_reason", "flags",
            "competes", "gt_resize", "other_gt", "limit", "partial", "data_complete", "data_fingerprint",
            "other_data", "image_size", "other_size", "suite_version", "current_suite_version", "n_samples",
            "citation", "note", "path"]  # fmt: skip
    fields = head + metric_cols + [f"{c}_ci95_{e}" for c in ci_cols for e in ("low", "high")] + tail
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for t in tables:
        for r in t.rows:
            rec = _record(t, r)
            out = {k: rec[k] for k in head}
            for c in metric_cols:
                v = r.value(c) if c in t.columns else None
                out[c] = "" if v is None else repr(v)
            for c in ci_cols:
                lo, hi = r.ci95.get(c, (None, None)) if c in t.columns else (None, None)
                out[f"{c}_ci95_low"] = "" if lo is None else repr(lo)
                out[f"{c}_ci95_high"] = "" if hi is None else repr(hi)
            for k in tail:
                v = rec[k]
                out[k] = ";".join(v) if isinstance(v, list) else ("" if v is None else v)
            w.writerow(out)
    return buf.getvalue()
