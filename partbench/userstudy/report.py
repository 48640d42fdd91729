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

    from partbench.console import console

    table = Table(title=f"{result['reference']} preferred over each baseline ({result['question']})")
    for col in ("baseline", "pref. %", "exact 95% CI", "rater-bootstrap 95% CI", "p", "p (Holm)", "item wins %",
                "raters", "items", "votes"):
        table.add_column(col, justify="left" if col == "baseline" else "right")
    for r in result["baselines"]:
        table.add_row(r["baseline"], _pct(r["preference"]), _ci(r["ci95_exact"]), _ci(r["ci95_rater_bootstrap"]),
                      "—" if r["p_value"] is None else f"{r['p_value']:.3g}",
                      "—" if r["p_value_holm"] is None else f"{r['p_value_holm']:.3g}",
                      _pct(r["item_majority_win_rate"]), str(r["n_raters"]), str(r["n_items"]), str(r["n_votes"]))
    console.print(table)
    d = result["dropped"]
    lb, rc = result["left_bias"], result["repeat_consistency"]
    console.print(
        f"raters: {result['n_raters_total']} answered, {result['n_raters_kept']} kept; dropped "
        f"{d['failed_gold']['n']} for gold accuracy < {result['thresholds']['min_gold_accuracy']:g}, "
        f"{d['too_fast']['n']} for median response time < {result['thresholds']['min_median_rt_ms']:g} ms; "
        f"{result['rejected_assignments']} rejected assignments skipped; "
        f"{result['duplicate_answers']} duplicate answers counted once.\n"
        f"left-side choices: {_pct(lb['p_left'])} % of {lb['n_votes']} votes"
        + ("" if lb["p_value"] is None else f" (p = {lb['p_value']:.3g})")
        + f"; repeated item answered consistently by {rc['consistent']} of {rc['n_raters']} raters.",
        highlight=False, soft_wrap=True)
    console.print(f"analysis: {json_path}\nchart: {chart}", style="dim", highlight=False, soft_wrap=True)
