"""The report's qualitative galleries.

Part segmentation: the same samples for every run side by side (image | ground truth | run A | run B ...), chosen
where the runs disagree most (spread of per-sample mIoU) plus each run's worst samples, with the part colours of the
samples' legend. Generation: per prompt, each run's images with their CLIP scores, prompts where the runs' scores
differ most first. Both are capped (a 10,000-sample suite shows the same few dozen rows as a small one) and their
images are small PNGs the page loads lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from partbench.report.files import ReportFiles, safe_name

if TYPE_CHECKING:
    from partbench.analysis.runs import RunData
    from partbench.report.palette import Palette


@dataclass
class Tile:
    src: str | None  # relative path; None: nothing to show (the run kept no prediction file)
    caption: str
    width: int = 0
    height: int = 0


@dataclass
class GalleryRow:
    title: str
    reason: str
    tiles: list[Tile]
    legend: list[tuple[str, str]] = field(default_factory=list)  # (part, colour)


def _tile(files: ReportFiles, rel: str, rgb: np.ndarray, caption: str, side: int) -> Tile:
    from partbench.report.overlay import png_bytes

    data = png_bytes(rgb, side)
    files.add(rel, data)
    width, height = png_size(data)
    return Tile(rel, caption, width, height)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header: the page gives every image its size, so nothing jumps as they load."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def segmentation_gallery(runs: Sequence[RunData], names: Sequence[str], suite: Any, data_root: Path, files: ReportFiles,
                         folder: str, palette: Palette, n_disagree: int, n_worst: int, side: int,
                         advance: Callable[[], None]) -> tuple[list[GalleryRow], int]:
    """Rows of tiles, and how many samples were candidates. Raises DataNotFoundError when the data is not there."""
    from partbench.analysis.samples import pick_samples, scores_by_id
    from partbench.report.overlay import SampleSource, draw, present_classes, read_prediction
    from partbench.suites import part_of

    reference = next((run for run in runs if run.results.get("limit") is None), runs[0])  # not a --limit prefix
    source = SampleSource(suite, data_root, reference.split or suite.default_split)
    scores = [scores_by_id(run.rows, suite.num_classes) for run in runs]
    ids = reference.sample_ids()
    rows = []
    for pick in pick_samples(ids, scores, names, n_disagree, n_worst):
        view = source.view(pick.sample_id)
        if view is None:
            advance()
            continue
        base = f"{folder}/gallery/{safe_name(pick.sample_id)}"
        preds = [read_prediction(run.predictions / f"{pick.sample_id}.png", view.truth.shape, suite.num_classes,
                                 view.ignore_label) for run in runs]
        tiles = [_tile(files, f"{base}-image.png", draw(view, None, palette), "image", side),
                 _tile(files, f"{base}-truth.png", draw(view, view.truth, palette), "ground truth", side)]
        for j, (name, pred, score) in enumerate(zip(names, preds, pick.scores)):
            caption = f"{name}: " + ("not scored" if score != score else f"mIoU {score:.1f}")
            if pred is None:
                tiles.append(Tile(None, caption + " (no prediction file)"))
            else:
                tiles.append(_tile(files, f"{base}-run{j}.png", draw(view, pred, palette), caption, side))
        legend = [(part_of(suite.classes[k]), palette.hex(k))
                  for k in present_classes([view.truth, *preds], suite.num_classes)]
        reason = "runs disagree" if pick.reason == "disagree" else pick.reason.replace("worst ", "worst of ")
        rows.append(GalleryRow(pick.sample_id, reason, tiles, legend))
        advance()
    return rows, len(ids)


def generation_gallery(runs: Sequence[RunData], names: Sequence[str], files: ReportFiles, folder: str,
                       n_prompts: int, side: int, advance: Callable[[], None]) -> tuple[list[GalleryRow], int]:
    """Per prompt (those whose runs' mean CLIP scores differ most first), each run's images with their scores."""
    from PIL import Image

    by_run: list[dict[str, list[dict]]] = []
    prompts: dict[str, str] = {}
    for run in runs:
        rows: dict[str, list[dict]] = {}
        for row in run.rows:
            pid = str(row.get("prompt_id"))
            rows.setdefault(pid, []).append(row)
            prompts.setdefault(pid, str(row.get("prompt", "")))
        by_run.append(rows)

    def mean(rows: list[dict]) -> float | None:
        scores = [r["clip_score"] for r in rows if isinstance(r.get("clip_score"), (int, float))]
        return sum(scores) / len(scores) if scores else None

    def spread(pid: str) -> float:
        values = [m for m in (mean(r.get(pid, [])) for r in by_run) if m is not None]
        return max(values) - min(values) if len(values) > 1 else 0.0

    order = sorted(prompts, key=lambda p: (-spread(p), list(prompts).index(p)))[:n_prompts]
    out = []
    for pid in order:
        tiles = []
        for j, (run, name, rows) in enumerate(zip(runs, names, by_run)):
            for row in sorted(rows.get(pid, []), key=lambda r: r.get("k", 0)):
                path = run.path / str(row.get("file", ""))
                caption = f"{name} #{row.get('k')}: CLIP {row.get('clip_score', float('nan')):.1f}"
                if not path.is_file():
                    tiles.append(Tile(None, caption + " (image missing)"))
                    continue
                with Image.open(path) as im:
                    rgb = np.asarray(im.convert("RGB"))
                tiles.append(_tile(files, f"{folder}/prompts/{safe_name(pid)}-run{j}-{row.get('k')}.png", rgb,
                                   caption, side))
        out.append(GalleryRow(f"{pid}: {prompts[pid]}", "runs differ most" if spread(pid) else "", tiles))
        advance()
    return out, len(prompts)
