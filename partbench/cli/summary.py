"""The summary printed after `run` and `score`: headline metrics with intervals, and a copy-paste line."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from partbench.console import console
from partbench.textfit import fit_table, stacked_records

LABELS = {"seen_miou": "seen mIoU", "unseen_miou": "unseen mIoU", "h_iou": "h-IoU", "miou": "mIoU",
          "seen_pacc": "seen pAcc", "unseen_pacc": "unseen pAcc", "lr_confusion": "L/R confusion ↓",
          "clip_score": "CLIP score"}
# A reader counts what it left out for a missing file per image (per record for Partonomy): say so for any unit.
SKIP_LABELS = {"missing_files": "left out for missing files"}


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def print_summary(results: dict[str, Any], where: str) -> None:
    metrics, ci = results["metrics"], results.get("ci95", {})
    title = (f"{results['run_name']} on {results['suite']} v{results['suite_version']} "
             f"({results['split']}, {results['n_samples']} samples, {results['convention']})")
    headers = ("metric", "value", "95% CI")
    rows = []
    # Known metrics in their usual order, then whatever else a plugin's evaluator reports, under its own name.
    for key in [k for k in LABELS if k in metrics] + [k for k in metrics if k not in LABELS]:
        iv = ci.get(key)
        rows.append([LABELS.get(key, key), _fmt(metrics[key]), "" if not iv else f"[{iv[0]:.2f}, {iv[1]:.2f}]"])
    table = Table(title=title)
    table.add_column(headers[0])
    table.add_column(headers[1], justify="right", no_wrap=True)
    table.add_column(headers[2], justify="right", no_wrap=True)  # an interval is never split over two lines
    for row in rows:
        table.add_row(*row)
    console.print(fit_table(table, console, lambda: stacked_records(title, headers, rows)))
    skipped = {k: v for k, v in results.get("n_skipped", {}).items() if v}
    if skipped:
        console.print("skipped: " + ", ".join(f"{v} {SKIP_LABELS.get(k, k.replace('_', ' '))}"
                                               for k, v in skipped.items()), style="dim")
    if not results.get("meaningful", True):
        console.print("note: a pipeline check (a smoke-test method or scorer); its numbers are not a result.",
                      style="yellow")
    keys = [k for k in ("seen_miou", "unseen_miou", "h_iou", "miou", "clip_score", "giou_macro", "giou_micro", "ciou",
                        "psnr_bg", "ssim_bg", "edit_error_fg")
            if k in metrics]
    console.print(f"copypaste: {results['suite']},{results['run_name']}," + ",".join(_fmt(metrics[k]) for k in keys),
                  highlight=False, soft_wrap=True)
    console.print(f"results: {where}", style="dim", highlight=False, soft_wrap=True)
