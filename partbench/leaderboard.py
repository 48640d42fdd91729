"""Leaderboard tables from results files (DESIGN §4) and published reference numbers (`leaderboards/published.yaml`).

Only stdlib, PyYAML and (for the terminal format) rich: `partbench table` must start fast, so nothing here imports
numpy, torch or pandas, and suites are looked up through `partbench.suites` (YAML only).

Pipeline: find results files -> `load_result` (validate) -> `row_from_result` -> `build_tables` (one `Table` per
suite: columns, published rows, best cells, footnotes) -> `render_rich|markdown|latex|csv|json`.

Rules the tables follow (also printed under each table):
- Measured rows come first, published rows after them in their own block.
- "Best" (bold) is computed per column separately within each block: among the measured runs, excluding smoke runs
  (`meaningful: false`) and stale runs, and among the published rows. Published numbers come from other evaluators
  and (for the paper rows) an unstated averaging convention, so they never make a measured cell bold or vice versa.
- A metric that is null or absent renders as "—" (e.g. h-IoU on a suite with only unseen objects).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError

MEASURED = "measured"
PUBLISHED = "published"
DASH = "—"
REQUIRED_KEYS = ("suite", "method", "metrics")
SUPPORTED_SCHEMA = 1

METRIC_LABELS = {
    "seen_miou": "seen mIoU",
    "unseen_miou": "unseen mIoU",
    "h_iou": "h-IoU",
    "miou": "mIoU",
    "seen_pacc": "seen pAcc",
    "unseen_pacc": "unseen pAcc",
    "lr_confusion": "L/R conf.",
    "clip_score": "CLIP score",
}
LOWER_IS_BETTER = frozenset({"lr_confusion"})
PART_COLUMNS = ("seen_miou", "unseen_miou", "h_iou")
DEFAULT_COLUMNS = {
    "part-semantic": PART_COLUMNS,
    "part-instance": PART_COLUMNS,
    "generation": ("clip_score",),
}
# Shown when some row has them (lr_confusion: measured left/right confusion, lower is better).
OPTIONAL_COLUMNS = ("lr_confusion",)
# A row whose headline cells would all be "—" brings the first of these it has (e.g. the OV-PARTS cross-dataset
# number, which is a plain mIoU).
FALLBACK_COLUMNS = ("miou", "unseen_miou", "seen_miou", "h_iou", "clip_score")

# LaTeX footnote markers for the published sources of one table, in order.
LATEX_MARKERS = (r"\dag", r"\ddag", r"\S", r"\P", r"\|", r"\dag\dag", r"\ddag\ddag", r"\S\S", r"\P\P")


# ---------------------------------------------------------------------------------------------------------------------
# Data


@dataclass
class Row:
    """One line of a table: a measured run (from a results file) or a published number (from published.yaml)."""

    source: str  # MEASURED | PUBLISHED
    suite: str
    label: str
    method: str
    metrics: dict[str, float | None]
    ci95: dict[str, tuple[float, float]] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    task: str | None = None
    convention: str | None = None
    setting: str | None = None
    run_name: str | None = None
    suite_version: str | None = None
    n_samples: int | None = None
    smoke: bool = False
    stale: str | None = None  # the reason ("re-run: suite changed from v1 to v2"), None when current
    citation: str | None = None
    note: str | None = None
    decimals: int | None = None  # published rows: as printed in the source; measured: the table's --decimals
    path: Path | None = None
    best: set[str] = field(default_factory=set)

    @property
    def competes(self) -> bool:
        """Whether this row can hold a best cell (smoke and stale runs cannot)."""
        return not self.smoke and self.stale is None

    def value(self, metric: str) -> float | None:
        return self.metrics.get(metric)


@dataclass
class Table:
    suite: str
    title: str
    task: str | None
    columns: list[str]
    lower_is_better: set[str]
    rows: list[Row]  # measured block, then published block
    citations: list[str] = field(default_factory=list)  # published sources in order of first appearance
    current_version: str | None = None
    note: str = ""  # the suite's `headline_note`: why its default columns differ (e.g. unseen-only evaluation)

    @property
    def measured(self) -> list[Row]:
        return [r for r in self.rows if r.source == MEASURED]

    @property
    def published(self) -> list[Row]:
        return [r for r in self.rows if r.source == PUBLISHED]

    def citation_index(self, row: Row) -> int:
        return self.citations.index(row.citation or "")


# ---------------------------------------------------------------------------------------------------------------------
# Loading results files


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PartbenchError(f"{where} must be a number or null, not {value!r}.")
    value = float(value)
    return None if math.isnan(value) else value


def load_result(path: Path) -> dict:
    """Read and validate one results JSON; any problem is a `PartbenchError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PartbenchError(f"{path}: cannot read results file ({e.strerror or e}).") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PartbenchError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}).") from None
    if not isinstance(data, dict):
        raise PartbenchError(f"{path}: a results file must hold a JSON object, not {type(data).__name__}.")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise PartbenchError(
            f"{path}: not a partbench results file: missing required key(s) {', '.join(map(repr, missing))}."
        )
    schema = data.get("schema_version", SUPPORTED_SCHEMA)
    if schema != SUPPORTED_SCHEMA:
        raise PartbenchError(
            f"{path}: results schema_version {schema!r} is not supported (this partbench reads {SUPPORTED_SCHEMA})."
        )
    if not isinstance(data["metrics"], dict):
        raise PartbenchError(f"{path}: 'metrics' must be an object mapping metric names to numbers.")
    for key in ("suite", "method"):
        if not isinstance(data[key], str) or not data[key]:
            raise PartbenchError(f"{path}: {key!r} must be a non-empty string.")
    return data


def _ci(raw: Any, path: Path) -> dict[str, tuple[float, float]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PartbenchError(f"{path}: 'ci95' must map metric names to [low, high].")
    out = {}
    for k, v in raw.items():
        if v is None:
            continue
        if not (isinstance(v, (list, tuple)) and len(v) == 2):
            raise PartbenchError(f"{path}: ci95[{k!r}] must be [low, high], not {v!r}.")
        lo, hi = (_number(x, f"{path}: ci95[{k!r}]") for x in v)
        if lo is not None and hi is not None:
            out[k] = (lo, hi)
    return out


@lru_cache(maxsize=None)
def registered_suite(name: str):
    """The registered `Suite` called `name`, or None when it is not registered (yet) or its YAML is broken."""
    from partbench.errors import UnknownNameError
    from partbench.suites import load_suite

    if not name or Path(name).suffix in (".yaml", ".yml"):
        return None  # a results file names a suite, never a path: do not let load_suite read files here
    try:
        return load_suite(name)
    except UnknownNameError:
        return None
    except PartbenchError:  # a broken suite YAML must not break the table
        return None


def row_from_result(data: dict, path: Path | None = None) -> Row:
    """Turn a validated results dict into a measured `Row` (stale and smoke flags included)."""
    where = str(path) if path else "results"
    metrics = {str(k): _number(v, f"{where}: metrics[{k!r}]") for k, v in data["metrics"].items()}
    hib = data.get("higher_is_better") or {}
    hib = {str(k): bool(v) for k, v in hib.items()} if isinstance(hib, dict) else {}
    run_name = data.get("run_name")
    if not run_name:
        if path is not None and path.name == "results.json":
            run_name = path.parent.name  # <method>[@<args-hash>]
        else:
            run_name = data["method"]
    suite_version = data.get("suite_version")
    suite_version = None if suite_version is None else str(suite_version)
    stale = None
    suite = registered_suite(data["suite"])
    if suite is not None and suite_version is not None and suite_version != str(suite.version):
        stale = f"re-run: suite changed from v{suite_version} to v{suite.version}"
    n = data.get("n_samples")
    return Row(
        source=MEASURED,
        suite=data["suite"],
        label=str(run_name),
        method=data["method"],
        metrics=metrics,
        ci95=_ci(data.get("ci95"), path or Path(where)),
        higher_is_better=hib,
        task=data.get("task"),
        convention=data.get("convention"),
        setting=data.get("setting"),
        run_name=str(run_name),
        suite_version=suite_version,
        n_samples=n if isinstance(n, int) and not isinstance(n, bool) else None,
        smoke=data.get("meaningful", True) is False,
        stale=stale,
        path=path,
    )


def find_result_files(
    paths: Sequence[Path] | None, runs_root: Path, note: Callable[[str], None] = lambda msg: None
) -> list[Path]:
    """Results files named by `paths` (files, run directories or trees of them), or all under `runs_root`.

    Directories holding no results.json are skipped with a `note` (e.g. a run still predicting, or not scored yet).
    """
    found: list[Path] = []
    if paths:
        for p in map(Path, paths):
            if p.is_file():
                found.append(p)
            elif p.is_dir():
                if (p / "results.json").is_file():
                    found.append(p / "results.json")
                    continue
                inside = sorted(p.rglob("results.json"))
                if inside:
                    found.extend(inside)
                else:
                    note(f"{p}: no results.json in this directory (not scored yet?); skipped.")
            else:
                raise PartbenchError(f"{p}: no such file or directory.")
    else:
        root = Path(runs_root)
        if root.is_dir():
            found.extend(sorted(root.rglob("results.json")))
            for run_dir in sorted(d for d in root.glob("*/*") if d.is_dir()):
                if not any(run_dir.rglob("results.json")):
                    note(f"{run_dir}: no results.json (not scored yet?); skipped.")
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def load_rows(files: Iterable[Path]) -> list[Row]:
    return [row_from_result(load_result(f), Path(f)) for f in files]


# ---------------------------------------------------------------------------------------------------------------------
# Published numbers


def published_path() -> Path:
    """`leaderboards/published.yaml` at the repository root, found next to the `partbench` package."""
    import partbench

    return Path(partbench.__file__).resolve().parent.parent / "leaderboards" / "published.yaml"


def load_published(path: Path | None = None) -> list[Row]:
    """Published rows from `published.yaml` (see the schema comment at the top of that file)."""
    import yaml

    path = Path(path) if path else published_path()
    if not path.is_file():
        raise PartbenchError(
            f"published reference numbers not found at {path} (they ship with the repository's leaderboards/ "
            "folder; use a source checkout or an editable install, or pass --no-published)."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PartbenchError(f"{path}: invalid YAML ({e}).") from None
    entries = raw.get("entries") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise PartbenchError(f"{path}: expected a top-level 'entries' list.")
    rows = []
    for i, e in enumerate(entries):
        where = f"{path}: entry {i + 1}"
        if not isinstance(e, dict):
            raise PartbenchError(f"{where} must be a mapping.")
        for key in ("method", "suite", "metrics", "citation"):
            if key not in e:
                raise PartbenchError(f"{where} ({e.get('method', '?')}) lacks {key!r}.")
        if not isinstance(e["metrics"], dict) or not e["metrics"]:
            raise PartbenchError(f"{where} ({e['method']}): 'metrics' must be a non-empty mapping.")
        metrics = {str(k): _number(v, f"{where} ({e['method']}): metrics[{k!r}]") for k, v in e["metrics"].items()}
        rows.append(
            Row(
                source=PUBLISHED,
                suite=str(e["suite"]),
                label=str(e["method"]),
                method=str(e["method"]),
                metrics=metrics,
                convention=e.get("convention"),
                setting=e.get("setting"),
                citation=str(e["citation"]),
                note=e.get("note"),
                decimals=int(e["decimals"]) if e.get("decimals") is not None else None,
                path=path,
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# Building tables


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def is_lower_better(metric: str, rows: Sequence[Row]) -> bool:
    for r in rows:  # a results file's own declaration wins
        if metric in r.higher_is_better:
            return not r.higher_is_better[metric]
    return metric in LOWER_IS_BETTER


def infer_task(suite_obj, rows: Sequence[Row]) -> str | None:
    if suite_obj is not None:
        return suite_obj.task
    for r in rows:
        if r.task:
            return r.task
    if any(r.value("clip_score") is not None for r in rows):
        return "generation"
    return "part-semantic" if rows else None


def choose_columns(rows: Sequence[Row], task: str | None, override: Sequence[str] | None = None) -> list[str]:
    """The suite's headline metrics (+ lr_confusion when some row has it); `override` (--metrics) wins."""
    if override:
        return list(dict.fromkeys(override))
    cols = list(DEFAULT_COLUMNS.get(task or "part-semantic", PART_COLUMNS))
    for extra in OPTIONAL_COLUMNS:
        if extra not in cols and any(r.value(extra) is not None for r in rows):
            cols.append(extra)
    for r in rows:
        if all(r.value(c) is None for c in cols):
            for k in FALLBACK_COLUMNS:
                if r.value(k) is not None:
                    if k not in cols:
                        cols.append(k)
                    break
    return cols


def mark_best(table: Table) -> None:
    """Set `row.best` per column, separately among competing measured rows and among published rows."""
    for r in table.rows:
        r.best = set()
    for block in (table.measured, table.published):
        contenders = [r for r in block if r.competes]
        for col in table.columns:
            values = [r.value(col) for r in contenders if r.value(col) is not None]
            if len(values) < 2:  # a lone value is not "best" of anything
                continue
            best = min(values) if col in table.lower_is_better else max(values)
            for r in contenders:
                v = r.value(col)
                if v is not None and math.isclose(v, best, rel_tol=0, abs_tol=1e-9):
                    r.best.add(col)


def _disambiguate(rows: list[Row]) -> None:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.label] = counts.get(r.label, 0) + 1
    for r in rows:
        if counts[r.label] > 1 and r.path is not None:
            r.label = f"{r.label} ({r.path.parent})"


def build_tables(
    measured: Sequence[Row],
    published: Sequence[Row] = (),
    suite: str | None = None,
    metrics: Sequence[str] | None = None,
) -> list[Table]:
    """One table per suite that has measured rows (or only `suite`); with no measured rows at all, one per suite
    that has published rows, so that `partbench table` on a fresh checkout shows the published leaderboard."""
    if suite is not None:
        suites = [suite]
    else:
        suites = list(dict.fromkeys(r.suite for r in measured)) or list(dict.fromkeys(r.suite for r in published))
    tables = []
    for name in suites:
        m_rows = [r for r in measured if r.suite == name]
        p_rows = [r for r in published if r.suite == name]
        if not m_rows and not p_rows:
            continue
        _disambiguate(m_rows)
        suite_obj = registered_suite(name)
        task = infer_task(suite_obj, m_rows or p_rows)
        rows = m_rows + p_rows
        # A suite can name its own headline columns (e.g. unseen mIoU only, where h-IoU is undefined).
        cols = choose_columns(rows, task, metrics or getattr(suite_obj, "headline_metrics", None))
        table = Table(
            suite=name,
            title=suite_obj.title if suite_obj is not None else name,
            task=task,
            columns=cols,
            lower_is_better={c for c in cols if is_lower_better(c, m_rows)},
            rows=rows,
            citations=list(dict.fromkeys(r.citation or "" for r in p_rows)),
            current_version=str(suite_obj.version) if suite_obj is not None else None,
            note=getattr(suite_obj, "headline_note", "") or "",
        )
        mark_best(table)
        tables.append(table)
    return tables


# ---------------------------------------------------------------------------------------------------------------------
# Cells and footnotes (shared by the formats)


def fmt_number(value: float | None, decimals: int) -> str:
    return DASH if value is None else f"{value:.{decimals}f}"


def row_decimals(row: Row, default: int) -> int:
    return row.decimals if (row.source == PUBLISHED and row.decimals is not None) else default


def cell_text(row: Row, col: str, decimals: int, ci: bool, pm: str = "±") -> str:
    d = row_decimals(row, decimals)
    v = row.value(col)
    text = fmt_number(v, d)
    if ci and v is not None and col in row.ci95:
        lo, hi = row.ci95[col]
        text += f" {pm} {(hi - lo) / 2:.{d}f}"
    return text


def row_flags(row: Row) -> list[str]:
    flags = []
    if row.smoke:
        flags.append("(smoke)")
    if row.stale:
        flags.append("(stale)")
    return flags


def protocol_text(row: Row) -> str:
    """Averaging convention, plus the setting when it is not the oracle-object default."""
    text = row.convention or DASH
    if row.setting and row.setting != "oracle-object":
        text += f", {row.setting}"
    return text


def measured_protocol_note(table: Table) -> str | None:
    """'Measured runs: convention ovparts; tiny: partcatseg, pred-all.' (for formats without a Conv. column)."""
    texts = [protocol_text(r) for r in table.measured if r.convention or r.setting]
    if not texts:
        return None
    common = max(set(texts), key=texts.count)
    others = [f"{r.label}: {protocol_text(r)}" for r in table.measured if protocol_text(r) != common]
    return f"Measured runs: convention {common}" + "".join(f"; {o}" for o in others) + "."


def _citation_notes(table: Table, citation: str) -> str:
    rows = [r for r in table.published if (r.citation or "") == citation]
    notes = list(dict.fromkeys(r.note for r in rows if r.note))
    if not notes:
        return ""
    parts = []
    for n in notes:
        owners = [r.method for r in rows if r.note == n]
        parts.append(n if len(owners) == len(rows) else f"{', '.join(dict.fromkeys(owners))}: {n}")
    return " ".join(parts)


def footnotes(table: Table, ci: bool, marker: Callable[[int], str]) -> list[str]:
    """Plain-text footnotes for one table; `marker(i)` gives the format's marker for published source i."""
    notes = []
    lower = [metric_label(c) for c in table.columns if c in table.lower_is_better]
    rule = "Bold: best per column, computed separately among the measured runs (smoke and stale runs excluded) and "
    rule += "among the published rows, where a block has two or more values."
    if lower:
        rule += f" ↓ lower is better ({', '.join(lower)})."
    notes.append(rule)
    if ci and any(c in r.ci95 for r in table.rows for c in table.columns):
        notes.append("± is half the width of the 95% confidence interval (ci95 in results.json).")
    if any(r.value(c) is None for r in table.rows for c in table.columns):
        notes.append(f"{DASH} not defined or not reported (e.g. h-IoU on a suite with only unseen classes).")
    if any(r.smoke for r in table.rows):
        notes.append(
            "(smoke): results.json says meaningful: false (a smoke run or pipeline check, e.g. a tiny random "
            "model or the oracle); its numbers say nothing about a method and never count as best."
        )
    for r in table.rows:
        if r.stale:
            notes.append(f"(stale) {r.label}: {r.stale}.")
    if table.published:
        notes.append(
            "Published rows are quoted from their sources, not re-run here; their evaluator and averaging "
            "convention may differ from the measured runs'."
        )
        for i, c in enumerate(table.citations):
            extra = _citation_notes(table, c)
            notes.append(f"{marker(i)} {c}." + (f" {extra}" if extra else ""))
    if table.note:
        notes.append(table.note)
    return notes


# ---------------------------------------------------------------------------------------------------------------------
# Formats


def render_rich(tables: Sequence[Table], ci: bool = False, decimals: int = 2) -> list:
    """Rich renderables (tables and their footnotes), for `console.print`."""
    from rich import box
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text

    out = []
    for t in tables:
        title = Text(t.title, style="bold")
        if t.title != t.suite:
            title.append(f"  ({t.suite})", style="dim")
        rt = RichTable(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        rt.add_column("Run / method")
        for c in t.columns:
            rt.add_column(metric_label(c) + (" ↓" if c in t.lower_is_better else ""), justify="right")
        rt.add_column("Conv.", style="dim")
        for i, r in enumerate(t.rows):
            if r.source == PUBLISHED and i > 0 and t.rows[i - 1].source != PUBLISHED:
                rt.add_section()
            label = Text(r.label)
            if r.source == PUBLISHED:
                label.append(f" [{t.citation_index(r) + 1}]")
            for flag in row_flags(r):
                label.append(" " + flag, style="yellow" if flag == "(smoke)" else "red")
            cells = [Text(cell_text(r, c, decimals, ci), style="bold" if c in r.best else "") for c in t.columns]
            rt.add_row(label, *cells, Text(protocol_text(r)), style="dim" if r.source == PUBLISHED else None)
        notes = footnotes(t, ci, lambda i: f"[{i + 1}]")
        out.append(Group(rt, *(Text(n, style="dim") for n in notes), Text("")))
    return out


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def render_markdown(tables: Sequence[Table], ci: bool = False, decimals: int = 2) -> str:
    blocks = []
    for t in tables:
        lines = [f"### {_md_escape(t.title)}" + (f" (`{t.suite}`)" if t.title != t.suite else ""), ""]
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
        blocks.append("\n".join(lines))
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
    """booktabs tables (needs \\usepackage{booktabs}); numbers right-aligned, published block after a \\midrule."""
    blocks = []
    for t in tables:
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
            if r.source == PUBLISHED and i > 0 and t.rows[i - 1].source != PUBLISHED:
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
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _record(t: Table, r: Row) -> dict[str, Any]:
    """A row as a plain dict with raw numbers (CSV and JSON)."""
    return {
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
        "stale": r.stale is not None,
        "stale_reason": r.stale,
        "suite_version": r.suite_version,
        "current_suite_version": t.current_version,
        "n_samples": r.n_samples,
        "decimals": r.decimals,
        "citation": r.citation,
        "note": r.note,
        "path": str(r.path) if r.path is not None and r.source == MEASURED else None,
    }


def render_json(tables: Sequence[Table]) -> str:
    return json.dumps([_record(t, r) for t in tables for r in t.rows], indent=2, ensure_ascii=False) + "\n"


def render_csv(tables: Sequence[Table]) -> str:
    """One CSV for all tables (a `suite` column); metric columns are the union over the tables, raw numbers."""
    metric_cols = list(dict.fromkeys(c for t in tables for c in t.columns))
    ci_cols = [c for c in metric_cols if any(c in r.ci95 for t in tables for r in t.rows)]
    head = ["suite", "suite_title", "source", "label", "method", "run_name"]
    tail = ["best", "convention", "setting", "smoke", "stale", "stale_reason", "suite_version",
            "current_suite_version", "n_samples", "citation", "note", "path"]  # fmt: skip
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


FORMATS = ("rich", "markdown", "latex", "csv", "json")
