"""The report's plots (matplotlib, non-interactive Agg backend): per-class IoU of each run, part confusion heatmaps,
left/right side errors. Each returns PNG bytes with no time stamp or version in them, so that the same runs give the
same files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.report.palette import run_colour

if TYPE_CHECKING:
    from partbench.analysis.confusion import ObjectConfusion
    from partbench.analysis.leftright import PairErrors


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        from partbench.errors import PartbenchError

        raise PartbenchError("pictures need matplotlib, which is not installed: pip install 'partbench[report]' "
                             "(or pip install matplotlib).") from None

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "svg.hashsalt": "partbench", "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt


def save_png(fig: Any, dpi: int = 100) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.08)
    plt.close(fig)
    return buf.getvalue()


def class_iou_plot(classes: Sequence[str], unseen: Sequence[bool], runs: Sequence[tuple[str, Sequence[float | None]]]
                   ) -> bytes:
    """One row per class (grouped by object, unseen objects shaded), one dot per run at its IoU."""
    plt = _pyplot()
    rows = [k for k in range(len(classes)) if any(iou[k] is not None for _, iou in runs)]
    height = 0.8 + 0.16 * max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(7.5, height))
    ys = np.arange(len(rows))[::-1]
    for y, k in zip(ys, rows):
        if unseen[k]:
            ax.axhspan(y - 0.5, y + 0.5, color="#eeeeee", zorder=0, linewidth=0)
    for i, (name, iou) in enumerate(runs):
        xs = [np.nan if iou[k] is None else iou[k] for k in rows]
        ax.scatter(xs, ys, s=14, color=run_colour(i), label=name, zorder=3, linewidths=0)
    ax.set_yticks(ys, [classes[k] + (" (unseen)" if unseen[k] else "") for k in rows], fontsize=6.5)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(-2, 102)
    ax.tick_params(axis="x", top=True, labeltop=True)  # the scale at the top too: the plot is taller than a screen
    ax.set_xlabel("IoU (%), dataset-level per class; grey rows: unseen objects")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6, zorder=1)
    # Above the top tick labels (about 0.25 in): the legend must not sit on the scale.
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0 + 0.28 / height), ncol=min(len(runs), 4), frameon=False,
              fontsize=7)
    return save_png(fig)


def confusion_plot(obj: str, matrices: Sequence[tuple[str, ObjectConfusion]]) -> bytes:
    """One row-normalised heatmap per run, side by side: ground-truth part (rows) x predicted part (columns)."""
    plt = _pyplot()
    parts = matrices[0][1].parts
    n = len(parts)
    side = 0.9 + 0.24 * (n + 2)
    fig, axes = plt.subplots(1, len(matrices), figsize=(side * len(matrices) + 0.8, side), squeeze=False)
    image = None
    for ax, (name, conf) in zip(axes[0], matrices):
        data = np.ma.masked_invalid(100 * conf.normalised())
        cmap = plt.get_cmap("viridis").with_extremes(bad="#f0f0f0")  # a part without ground truth: blank row
        # No numbers in the cells: at 12+ parts they are unreadable at page size and cost most of the drawing time.
        image = ax.imshow(data, cmap=cmap, vmin=0, vmax=100, aspect="equal", interpolation="nearest")
        ax.set_xticks(range(n + 2), conf.columns, rotation=60, ha="right", fontsize=6)
        ax.set_yticks(range(n), parts if ax is axes[0][0] else [""] * n, fontsize=6)
        ax.set_title(name, fontsize=7.5)
        ax.set_xlabel("predicted", fontsize=7)
    axes[0][0].set_ylabel(f"ground truth ({obj})", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), fraction=0.025, pad=0.02, label="% of the part's pixels")
    return save_png(fig)


def side_error_plot(runs: Sequence[tuple[str, Sequence[PairErrors]]]) -> bytes:
    """Per mirrored pair (all facings pooled), each run's side error: 50 % is a coin flip."""
    plt = _pyplot()
    keys = sorted({(e.object, e.pair) for _, errors in runs for e in errors})
    fig, ax = plt.subplots(figsize=(7.5, 0.8 + 0.2 * max(len(keys), 1) * max(1, len(runs)) / 2))
    height = 0.8 / max(len(runs), 1)
    ys = np.arange(len(keys))[::-1]
    for i, (name, errors) in enumerate(runs):
        pooled: dict[tuple[str, str], list[int]] = {}
        for e in errors:
            acc = pooled.setdefault((e.object, e.pair), [0, 0])
            acc[0] += e.mirror
            acc[1] += e.correct + e.mirror
        values = [100 * pooled[k][0] / pooled[k][1] if k in pooled and pooled[k][1] else np.nan for k in keys]
        ax.barh(ys + 0.4 - height * (i + 0.5), values, height=height, color=run_colour(i), label=name)
    ax.axvline(50, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(ys, [f"{o}: {p}" for o, p in keys], fontsize=6.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("side error (%): of the pair's pixels given one of its two sides, the share given the wrong one")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(runs), 4), frameon=False, fontsize=7)
    return save_png(fig)
