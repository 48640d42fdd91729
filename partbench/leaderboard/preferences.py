"""The published user-study block of `partbench table`: under a suite's table, one line per published two-way
preference ("PartEdit over P2P: 88.6 % of 360 responses"), in every format (csv excepted: its rows are metric rows).

A preference compares two methods, not one method against a metric, so it does not fit the table's columns; the
block keeps it next to the table of the suite it was measured on, with its source.
"""

from __future__ import annotations

from typing import Any

from partbench.leaderboard.types import PreferenceRow, Table

TITLE = "User-study preferences (published)"
HEADERS = ("Preferred", "over", "% preferring", "responses")


def percent_text(p: PreferenceRow) -> str:
    return f"{p.percent:.{p.decimals}f}" if p.decimals is not None else f"{p.percent:g}"


def cells(p: PreferenceRow) -> list[str]:
    over = p.versus + (" (GT mask)" if p.versus_uses_gt_mask else "")
    return [p.method, over, percent_text(p), str(p.responses)]


def notes(t: Table, marker) -> list[str]:
    """What the block's rows mean, then one line per source (`marker(i)`), with its rows' notes."""
    prefs = t.preferences
    out = ["% preferring: the share of two-alternative forced-choice responses that chose the first method's result "
           "over the second's, as the source reports it (not re-run here)."]
    if any(p.versus_uses_gt_mask for p in prefs):
        out.append("(GT mask): that method was given the ground-truth part mask.")
    if any(p.unverified for p in prefs):
        out.append("(unverified): taken from a secondary source, not yet checked against the original.")
    out += [f"Question: {q}" for q in dict.fromkeys(p.question for p in prefs if p.question)]
    for i, citation in enumerate(dict.fromkeys(p.citation for p in prefs)):
        extra = dict.fromkeys(p.note for p in prefs if p.citation == citation and p.note)
        out.append(f"{marker(i)} {citation}." + "".join(f" {x}" for x in extra))
    return out


def source_index(t: Table, p: PreferenceRow) -> int:
    return list(dict.fromkeys(q.citation for q in t.preferences)).index(p.citation)


def rich_block(t: Table) -> list:
    """Rich renderables for the block (nothing when the table has no preferences)."""
    if not t.preferences:
        return []
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    from partbench.textfit import never_cut

    rt = RichTable(box=box.SIMPLE_HEAD)
    for h, justify in zip(HEADERS, ("left", "left", "right", "right")):
        rt.add_column(h, justify=justify)  # type: ignore[arg-type]
    for p in t.preferences:
        first, *rest = cells(p)
        label = first + f" [p{source_index(t, p) + 1}]" + (" (unverified)" if p.unverified else "")
        rt.add_row(label, *rest, style="dim")
    return [Text(TITLE, style="bold"), never_cut(rt),
            *(Text(n, style="dim") for n in notes(t, lambda i: f"[p{i + 1}]")), Text("")]


def markdown_block(t: Table, escape) -> list[str]:
    if not t.preferences:
        return []
    lines = ["", f"#### {TITLE}", "", "| " + " | ".join(HEADERS) + " | Source |", "|:---|:---|---:|---:|:---|"]
    for p in t.preferences:
        first, *rest = cells(p)
        label = escape(first) + (" (unverified)" if p.unverified else "")
        lines.append("| " + " | ".join([label, *map(escape, rest), f"published [p{source_index(t, p) + 1}]"]) + " |")
    lines.append("")
    lines += [f"- {escape(n)}" for n in notes(t, lambda i: f"[p{i + 1}]")]
    return lines


def latex_block(t: Table, escape) -> list[str]:
    """A second booktabs table, after the suite's (needs \\usepackage{booktabs})."""
    if not t.preferences:
        return []
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{llrr}", r"\toprule",
             " & ".join(escape(h) for h in HEADERS) + r" \\", r"\midrule"]
    for p in t.preferences:
        first, *rest = (escape(c) for c in cells(p))
        lines.append(" & ".join([first + r"\textsuperscript{" + str(source_index(t, p) + 1) + "}", *rest]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + escape(f"{t.title}: {TITLE.lower()}.") + "}",
              r"\par\smallskip\footnotesize"]
    text = [escape(n) for n in notes(t, lambda i: f"\x00{i}\x00")]
    for i in range(len(text)):
        for j in range(len(t.preferences)):
            text[i] = text[i].replace(f"\x00{j}\x00", r"\textsuperscript{" + str(j + 1) + "}")
    lines += [n + (r"\\" if k < len(text) - 1 else "") for k, n in enumerate(text)]
    lines.append(r"\end{table}")
    return lines


def records(t: Table) -> list[dict[str, Any]]:
    """JSON records: `kind: preference` beside the table's `kind: row` records."""
    return [{"kind": "preference", "suite": t.suite, "suite_title": t.title, "source": "published",
             "method": p.method, "versus": p.versus, "versus_uses_gt_mask": p.versus_uses_gt_mask,
             "percent": p.percent, "responses": p.responses, "decimals": p.decimals, "question": p.question,
             "citation": p.citation, "note": p.note, "verified": not p.unverified} for p in t.preferences]
