"""`partbench report`: a static HTML report of finished runs, one page per suite, readable from file:// (no server,
no script, no request outside its folder).

A page holds the leaderboard as `partbench table --ci` shows it (marks and footnotes included), per-class IoU of
each run (seen/unseen marked) with the classes on which the runs differ most, per object a part confusion heatmap
per run, the left/right breakdown per mirrored pair (and facing, where the suite records it), a gallery of the
same samples for every run, and for generation suites each run's images per prompt with their CLIP scores. User
study analyses (`userstudy analyze`) are added when given.

Deterministic: the same runs and options give byte-identical files (sorted choices, no time stamps, PNGs without
version metadata); a rewrite removes only files the previous report wrote (`files.ReportFiles`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partbench.errors import DataNotFoundError, PartbenchError
from partbench.report.files import ReportFiles, safe_name

SEGMENTATION = ("part-semantic", "part-instance")


@dataclass
class ReportOptions:
    output: Path
    data_root: Path
    paths: list[Path] | None = None  # run folders, trees of them or results files; None: all under runs_root
    runs_root: Path = Path("runs")
    suite: str | None = None
    published: bool = True
    userstudy: list[Path] = field(default_factory=list)
    n_disagree: int = 12  # gallery: samples where the runs disagree most
    n_worst: int = 4  # gallery: each run's worst samples
    n_prompts: int = 12  # generation suites: prompts shown
    tile_side: int = 200  # gallery tiles: longer side in pixels


@dataclass
class ReportOutcome:
    output: Path
    pages: list[str]
    n_files: int
    n_bytes: int
    notes: list[str]


def _env():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("partbench.report", "templates"), keep_trailing_newline=True,
                       autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True))


def build_report(opts: ReportOptions, note: Callable[[str], None] = lambda msg: None) -> ReportOutcome:
    from partbench.console import progress_bar
    from partbench.leaderboard.published import load_published
    from partbench.leaderboard.results import find_result_files, load_rows
    from partbench.leaderboard.tables import build_tables
    from partbench.natural_order import runs_in_natural_order
    from partbench.report.userstudy import userstudy_sections

    notes: list[str] = []

    def tell(msg: str) -> None:
        notes.append(msg)
        note(msg)

    found = runs_in_natural_order(find_result_files(opts.paths, opts.runs_root, tell), opts.paths)
    named = {Path(p).resolve() for p in (opts.paths or []) if Path(p).is_file()}

    def skip(path: Path, error: PartbenchError) -> None:
        if path.resolve() in named:
            raise error
        tell(f"skipped a run that cannot be read: {error}")

    measured = load_rows(found, skip)
    published = []
    if opts.published:
        try:
            published = load_published()
        except PartbenchError:
            pass
    tables = [t for t in build_tables(measured, published, suite=opts.suite) if t.measured]
    if not tables:
        where = "the given paths" if opts.paths else str(opts.runs_root)
        raise PartbenchError(f"no results{f' for suite {opts.suite!r}' if opts.suite else ''} under {where}; "
                             "create them with `partbench run` or `partbench score`.")
    files = ReportFiles(opts.output)
    env = _env()
    studies = userstudy_sections(opts.userstudy, files)
    pages = []
    with progress_bar() as bar:
        for table in tables:
            pages.append(_suite_page(table, opts, files, env, bar, tell, studies, [t.suite for t in tables]))
        index = env.get_template("index.html.j2").render(
            pages=[(t.title, t.suite, p, len(t.measured)) for t, p in zip(tables, pages)], studies=studies,
            notes=notes)
        files.add_text("index.html", index)
    n_files, n_bytes = files.finish()
    return ReportOutcome(opts.output, pages, n_files, n_bytes, notes)


def _suite_page(table: Any, opts: ReportOptions, files: ReportFiles, env: Any, bar: Any,
                tell: Callable[[str], None], studies: list, suites: list[str]) -> str:
    from partbench.analysis.runs import load_run
    from partbench.leaderboard.results import registered_suite
    from partbench.report.palette import run_colour
    from partbench.report.sections import leaderboard

    suite = registered_suite(table.suite)
    slug = safe_name(table.suite)
    colours = {r.label: run_colour(i) for i, r in enumerate(table.measured)}
    runs, names, flags = [], [], []
    for r in table.measured:
        # Another suite version may number its classes differently: such a run's rows cannot be read against this
        # suite. A run stale for another reason (an older convention version) keeps its per-sample rows, which are
        # convention-free, so its analyses stay (its mark says it is stale).
        if suite is not None and r.suite_version is not None and r.suite_version != str(suite.version):
            tell(f"{r.label}: {r.stale or 'another suite version'}; shown in the leaderboard only.")
            continue
        runs.append(load_run(r.path))
        names.append(r.label)
        flags.append(" ".join(f for f in _flags(r)))
    ctx: dict[str, Any] = {
        "title": table.title, "suite": table.suite, "version": table.current_version, "task": table.task,
        "board": leaderboard(table, colours), "runs": [(n, colours[n], f, str(run.path)) for n, f, run in
                                                       zip(names, flags, runs)],
        "split": _reference(runs).split if runs else None,
        "n_samples": _reference(runs).results.get("n_samples") if runs else None,
        "nav": [(s, safe_name(s) + ".html") for s in suites], "notes": [], "studies": [],
    }
    task = bar.add_task(f"report {table.suite}", total=None)
    if suite is not None and suite.task in SEGMENTATION and runs:
        try:
            ctx |= _segmentation(suite, runs, names, opts, files, slug, lambda: bar.advance(task), ctx["notes"])
        except PartbenchError as e:  # a run without per-sample rows: the page keeps its leaderboard
            ctx["notes"].append(f"analyses skipped: {e}")
    elif table.task == "generation" and runs:  # a suite YAML given by path is not registered: its rows tell
        from partbench.report.gallery import generation_gallery

        ctx["prompts"], ctx["n_candidates"] = generation_gallery(runs, names, files, slug, opts.n_prompts,
                                                                  opts.tile_side, lambda: bar.advance(task))
    if table.task == "generation" or len(suites) == 1:  # user studies compare generated images
        ctx["studies"] = studies
    for msg in ctx["notes"]:
        tell(f"{table.suite}: {msg}")
    page = f"{slug}.html"
    files.add_text(page, env.get_template("page.html.j2").render(**ctx))
    done = max(1, next(t.completed for t in bar.tasks if t.id == task))
    bar.update(task, total=done, completed=done)  # steps were not known ahead (gallery rows depend on the data)
    return page


def _reference(runs: list) -> Any:
    """The run whose samples the page describes: the first full run (a `--limit` run covers only a prefix)."""
    return next((run for run in runs if run.results.get("limit") is None), runs[0])


def _flags(row: Any) -> list[str]:
    from partbench.leaderboard.cells import row_flags

    return row_flags(row)


def _image(files: ReportFiles, rel: str, data: bytes) -> dict[str, Any]:
    from partbench.report.gallery import png_size

    files.add(rel, data)
    width, height = png_size(data)
    return {"src": rel, "width": width, "height": height}


def _segmentation(suite: Any, runs: list, names: list[str], opts: ReportOptions, files: ReportFiles, slug: str,
                  advance: Callable[[], None], notes: list[str]) -> dict[str, Any]:
    from partbench.analysis.confusion import object_confusions
    from partbench.analysis.leftright import pair_errors, read_meta_for
    from partbench.report import plots
    from partbench.report.gallery import segmentation_gallery
    from partbench.report.palette import suite_palette
    from partbench.report.sections import largest_differences, lr_table

    out: dict[str, Any] = {}
    per_run = [_per_class(run, suite) for run in runs]
    out["class_plot"] = _image(files, f"{slug}/class-iou.png",
                               plots.class_iou_plot(suite.classes, suite.unseen_mask, list(zip(names, per_run))))
    out["diffs"] = largest_differences(suite.classes, suite.unseen_mask, per_run)
    advance()
    confusions = [{c.object: c for c in object_confusions(run.rows, suite)} for run in runs]
    out["confusions"] = []
    for obj in suite.object_classes:
        matrices = [(name, conf[obj]) for name, conf in zip(names, confusions) if obj in conf]
        if matrices:
            out["confusions"].append({"object": obj, "unseen": obj in suite.unseen_objects} | _image(
                files, f"{slug}/confusion-{safe_name(obj)}.png", plots.confusion_plot(obj, matrices)))
            advance()
    if suite.mirrored_pairs:
        meta = read_meta_for(suite, opts.data_root, _reference(runs).split or suite.default_split)
        errors = {name: pair_errors(run.rows, suite.classes, suite.mirrored_pairs, meta)
                  for name, run in zip(names, runs)}
        out["lr"] = lr_table(errors)
        out["lr_plot"] = _image(files, f"{slug}/side-error.png", plots.side_error_plot(list(errors.items())))
        advance()
    palette = suite_palette(suite)
    try:
        out["gallery"], out["n_candidates"] = segmentation_gallery(
            runs, names, suite, opts.data_root, files, slug, palette, opts.n_disagree, opts.n_worst, opts.tile_side,
            advance)
    except DataNotFoundError as e:
        notes.append(f"gallery skipped: the suite's data is not under {opts.data_root} ({e}); pass --data-root.")
    return out


def _per_class(run: Any, suite: Any) -> list[float | None]:
    """The run's per-class IoU (results.json's per_class) in the suite's class order."""
    by_name = {c.get("name"): c.get("iou") for c in run.results.get("per_class") or [] if isinstance(c, dict)}
    return [by_name.get(name) for name in suite.classes]
