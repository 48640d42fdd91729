"""Bar chart of the reference's preference over each baseline, with exact and rater-bootstrap 95 % intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def preference_chart(analysis: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    rows = [r for r in analysis["baselines"] if r["preference"] is not None]
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * max(1, len(rows)), 3.6), dpi=120)
    xs = range(len(rows))
    prefs = [100 * r["preference"] for r in rows]
    ax.bar(xs, prefs, color="#4c72b0", width=0.6, label="votes preferring the reference")
    for x, r in zip(xs, rows):
        lo, hi = r["ci95_exact"]
        ax.errorbar(x - 0.08, 100 * r["preference"],
                    yerr=[[100 * (r["preference"] - lo)], [100 * (hi - r["preference"])]],
                    fmt="none", ecolor="black", capsize=4, label="exact 95% CI" if x == 0 else None)
        if r["ci95_rater_bootstrap"]:
            blo, bhi = r["ci95_rater_bootstrap"]
            ax.errorbar(x + 0.08, 100 * r["preference"],
                        yerr=[[100 * (r["preference"] - blo)], [100 * (bhi - r["preference"])]], fmt="none",
                        ecolor="#c44e52", capsize=4, label="rater bootstrap 95% CI" if x == 0 else None)
    ax.axhline(50, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(list(xs), [f"vs {r['baseline']}" for r in rows], rotation=15, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"% preferring {analysis['reference']}")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path
