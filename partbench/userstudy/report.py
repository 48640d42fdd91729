"""The terminal table of a user-study analysis (rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _ci(iv) -> str:
    return "—" if not iv else f"[{100 * iv[0]:.1f}, {100 * iv[1]:.1f}]"


def print_analysis(result: dict[str, Any], json_path: Path, chart: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    from partbench.console import console
    from partbench.textfit import fit_table, stacked_records

    title = f"{result['reference']} preferred over each baseline ({result['question']})"
    headers = ("baseline", "pref. %", "exact 95% CI", "rater-bootstrap 95% CI", "p", "p (Holm)", "item wins %",
               "raters", "items", "votes")
    rows = [[r["baseline"], _pct(r["preference"]), _ci(r["ci95_exact"]), _ci(r["ci95_rater_bootstrap"]),
             "—" if r["p_value"] is None else f"{r['p_value']:.3g}",
             "—" if r["p_value_holm"] is None else f"{r['p_value_holm']:.3g}",
             _pct(r["item_majority_win_rate"]), str(r["n_raters"]), str(r["n_items"]), str(r["n_votes"])]
            for r in result["baselines"]]
    table = Table(title=title)
    for col in headers:  # numbers and intervals never wrap; a table too wide for the terminal is stacked instead
        table.add_column(col, justify="left" if col == "baseline" else "right", no_wrap=col != "baseline")
    for row in rows:
        table.add_row(*(Text(c) for c in row))  # baseline names come from run folders: never markup
    console.print(fit_table(table, console, lambda: stacked_records(title, headers, rows)))
    d = result["dropped"]
    lb, rc = result["left_bias"], result["repeat_consistency"]
    dup, codes = result["duplicates"], result["completion_codes"]
    console.print(
        f"raters: {result['n_raters_total']} answered, {result['n_raters_kept']} kept; dropped "
        f"{d['conflicting_duplicates']['n']} for conflicting repeated answers{_ids(d['conflicting_duplicates'])}, "
        f"{d['code_mismatch']['n']} for a completion code that does not match their answers"
        f"{_ids(d['code_mismatch'])}, {d['no_gold']['n']} for answering no gold item{_ids(d['no_gold'])}, "
        f"{d['failed_gold']['n']} for gold accuracy < {result['thresholds']['min_gold_accuracy']:g}"
        f"{_ids(d['failed_gold'])}, "
        f"{d['too_fast']['n']} for median response time < {result['thresholds']['min_median_rt_ms']:g} ms"
        f"{_ids(d['too_fast'])}; "
        f"{result['rejected_assignments']} rejected assignments skipped; "
        f"{dup['identical']['n_answers']} identical repeated answers counted once"
        + (f"; conflicting repeats resolved by policy {dup['policy']!r}: {', '.join(dup['conflicting']['raters'])}"
           if dup["policy"] != "exclude" and dup["conflicting"]["raters"] else "") + ".\n"
        + (f"completion codes: {len(codes['verified'])} of {codes['n_files']} answers files verified "
           f"(analysis.json lists them to match against the platform's codes).\n" if codes["n_files"] else "")
        + f"left-side choices: {_pct(lb['p_left'])} % of {lb['n_votes']} votes"
        + ("" if lb["p_value"] is None else f" (p = {lb['p_value']:.3g})")
        + f"; repeated item answered consistently by {rc['consistent']} of {rc['n_raters']} raters.",
        highlight=False, soft_wrap=True, markup=False)  # rater ids come from answer files: never markup
    console.print(f"analysis: {json_path}\nchart: {chart}", style="dim", highlight=False, soft_wrap=True)


def _ids(group: dict[str, Any], most: int = 5) -> str:
    """' (a, b, c)': who was dropped, so that the terminal already shows which submissions to look at."""
    raters = group["raters"]
    if not raters:
        return ""
    more = f", +{len(raters) - most} more" if len(raters) > most else ""
    return f" ({', '.join(raters[:most])}{more})"
