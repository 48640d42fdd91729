"""Paper figures of samples: `partbench show` (one sample: image, ground truth, the run's prediction) and
`partbench figure` (rows = samples, columns = image, ground truth, each run).

matplotlib draws them with the suite's part colours (`palette`), text as text (TrueType fonts embedded in PDF, so
titles and the legend stay vector and searchable), and no date or version in the file, so the same runs and samples
give the same bytes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from partbench.analysis.runs import RunData

FORMATS = (".png", ".pdf", ".svg")


@dataclass
class PanelRow:
    sample_id: str
    tiles: list[np.ndarray]  # image, ground truth, each run
    classes: list[int]  # class ids shown, for the legend


def _check_output(output: Path) -> None:
    if Path(output).suffix.lower() not in FORMATS:
        raise PartbenchError(f"{output}: the figure's file name must end in {', '.join(FORMATS)}.")


def _runs_of_one_suite(runs: Sequence[RunData]) -> Any:
    from partbench.suites import load_suite

    names = {(run.suite, run.split) for run in runs}
    if len(names) > 1:
        raise PartbenchError("the runs are of different suites or splits (" + ", ".join(
            f"{run.results_path}: {run.suite}/{run.split}" for run in runs) + "); a figure shows one suite's samples.")
    suite = load_suite(runs[0].suite)
    if suite.task not in ("part-semantic", "part-instance"):
        raise PartbenchError(f"suite {suite.name!r} is a {suite.task} suite; show and figure draw part segmentation.")
    return suite


def panel_rows(runs: Sequence[RunData], sample_ids: Sequence[str], data_root: Path,
               warn: Callable[[str], None] | None = None) -> tuple[Any, list[PanelRow]]:
    """The tiles of each sample, every run's prediction in the same crop; `warn` hears of runs made on other data
    than `data_root` holds (`partbench.report.data_match`)."""
    from partbench.report.overlay import SampleSource, draw, present_classes, read_prediction
    from partbench.report.palette import suite_palette

    suite = _runs_of_one_suite(runs)
    palette = suite_palette(suite)
    source = SampleSource(suite, data_root, runs[0].split or suite.default_split)
    rows = []
    for sample_id in sample_ids:
        view = source.view(sample_id)
        if view is None:
            close = difflib.get_close_matches(sample_id, list(source.refs), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise PartbenchError(f"no sample {sample_id!r} in {suite.name}/{runs[0].split} under {data_root}.{hint} "
                                 f"Sample ids are the prediction file names in a run's predictions/ folder.")
        preds = []
        for run in runs:
            pred = read_prediction(run.predictions / f"{sample_id}.png", view.truth.shape, suite.num_classes,
                                   view.ignore_label)
            if pred is None:
                raise PartbenchError(f"{run.predictions / (sample_id + '.png')}: not found; the run kept no "
                                     f"prediction for {sample_id!r} (an imported score, or --limit).")
            preds.append(pred)
        tiles = [draw(view, None, palette), draw(view, view.truth, palette), *(draw(view, p, palette) for p in preds)]
        rows.append(PanelRow(sample_id, tiles, present_classes([view.truth, *preds], suite.num_classes)))
    if warn is not None:
        from partbench.report.data_match import other_data

        for line in other_data(runs, source.reader, source.refs, sample_ids, data_root):
            warn(line)
    return suite, rows


def write_figure(runs: Sequence[RunData], names: Sequence[str], sample_ids: Sequence[str], data_root: Path,
                 output: Path, width_in: float | None = None, warn: Callable[[str], None] | None = None) -> Path:
    """rows = samples, columns = image | ground truth | each run; a legend of the parts shown under the panel."""
    from partbench.report.palette import suite_palette
    from partbench.report.plots import _pyplot
    from partbench.store.atomic import atomic_write_bytes
    from partbench.suites import part_of

    _check_output(output)
    if not sample_ids:
        raise PartbenchError("no samples given: --samples ID[,ID...] (ids as in a run's predictions/ folder).")
    suite, rows = panel_rows(runs, sample_ids, data_root, warn)
    palette = suite_palette(suite)
    plt = _pyplot()
    plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"})
    columns = ["image", "ground truth", *names]
    n_cols = len(columns)
    width = width_in or min(1.45 * n_cols, 7.0)
    ratios = [r.tiles[0].shape[0] / r.tiles[0].shape[1] for r in rows]  # each row as tall as its crop needs
    legend_in = 0.12 + 0.16 * _legend_rows(rows)
    height = (width / n_cols) * sum(ratios) * 1.04 + 0.3 + legend_in
    fig, axes = plt.subplots(len(rows), n_cols, squeeze=False, figsize=(width, height),
                             gridspec_kw={"height_ratios": ratios})
    for i, row in enumerate(rows):
        for j, tile in enumerate(row.tiles):
            ax = axes[i][j]
            ax.imshow(tile, interpolation="nearest", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if i == 0:
                ax.set_title(columns[j], fontsize=7)
        axes[i][0].set_ylabel(row.sample_id, fontsize=5.5, rotation=90)
    # One legend entry per part phrase (the colour map is keyed by phrase), a pair's two sides next to each other.
    first: dict[str, int] = {}
    for k in sorted({k for r in rows for k in r.classes}):
        first.setdefault(part_of(suite.classes[k]), k)
    labels = sorted(first, key=lambda name: (" ".join(w for w in name.split() if w not in ("left", "right")), name))
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette.hex(first[name])) for name in labels]
    fig.legend(handles, labels, loc="lower center", ncol=min(6, max(1, len(labels))), fontsize=5.5, frameon=False,
               handlelength=1.0, columnspacing=0.8)
    fig.subplots_adjust(left=0.04, right=0.99, top=1 - 0.3 / height, bottom=legend_in / height, wspace=0.03,
                        hspace=0.04)
    return _save(fig, Path(output), atomic_write_bytes)


def _legend_rows(rows: list[PanelRow]) -> int:
    return -(-len({k for r in rows for k in r.classes}) // 6)


def _save(fig: Any, output: Path, write: Any) -> Path:
    import io

    from partbench.report.plots import _pyplot

    suffix = output.suffix.lower()
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
                "svg": {"Date": None, "Creator": None}}[suffix[1:]]
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix[1:], dpi=300, metadata=metadata)
    _pyplot().close(fig)
    write(output, buf.getvalue())
    return output
