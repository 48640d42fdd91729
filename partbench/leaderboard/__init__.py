"""Leaderboard tables from results files and the published reference numbers (`leaderboards/published.yaml`).

Only stdlib, PyYAML and (for the terminal format) rich: `partbench table` must start fast, so nothing here imports
numpy, torch or pandas, and suites are looked up through `partbench.suites` (YAML only).

Pipeline, one module per step: find results files -> `load_result` (validate) -> `row_from_result` (`results`);
published rows (`published`) -> `build_tables` (`tables`: one `Table` per suite with columns, published rows, best
cells) -> cell text and footnotes (`cells`) -> `render_rich|markdown|latex|csv|json` (`render`). `Row` and `Table`
live in `types`.

Rules the tables follow (also printed under each table):
- Measured rows come first, published rows after them in their own block; within each, rows of methods given the
  ground-truth mask (registry `uses_gt_mask`, part editing) form a block of their own after the others.
- A suite's published user-study preferences (`published.yaml` `preferences`) follow its table (`preferences`).
- "Best" (bold) is computed per column separately within each block: among the measured runs, excluding smoke runs
  (`meaningful: false`) and stale runs, and among the published rows. Published numbers come from other evaluators
  and (for the paper rows) an unstated averaging convention, so they never make a measured cell bold or vice versa.
- A metric that is null or absent renders as "—" (e.g. h-IoU on a suite with only unseen objects).
"""

from __future__ import annotations

from partbench.leaderboard.cells import (
    cell_text,
    fmt_number,
    footnotes,
    measured_protocol_note,
    protocol_text,
    row_decimals,
    row_flags,
)
from partbench.leaderboard.published import load_published, published_path
from partbench.leaderboard.render import (
    FORMATS,
    LATEX_MARKERS,
    latex_escape,
    render_csv,
    render_json,
    render_latex,
    render_markdown,
    render_rich,
)
from partbench.leaderboard.results import (
    REQUIRED_KEYS,
    SUPPORTED_SCHEMA,
    find_result_files,
    load_result,
    load_rows,
    registered_suite,
    row_from_result,
)
from partbench.leaderboard.tables import (
    DEFAULT_COLUMNS,
    FALLBACK_COLUMNS,
    LOWER_IS_BETTER,
    METRIC_LABELS,
    OPTIONAL_COLUMNS,
    PART_COLUMNS,
    build_tables,
    choose_columns,
    infer_task,
    is_lower_better,
    mark_best,
    metric_label,
)
from partbench.leaderboard.types import DASH, MEASURED, PUBLISHED, Row, Table

__all__ = [
    "DASH", "DEFAULT_COLUMNS", "FALLBACK_COLUMNS", "FORMATS", "LATEX_MARKERS", "LOWER_IS_BETTER", "MEASURED",
    "METRIC_LABELS", "OPTIONAL_COLUMNS", "PART_COLUMNS", "PUBLISHED", "REQUIRED_KEYS", "SUPPORTED_SCHEMA", "Row",
    "Table", "build_tables", "cell_text", "choose_columns", "find_result_files", "fmt_number", "footnotes",
    "infer_task", "is_lower_better", "latex_escape", "load_published", "load_result", "load_rows", "mark_best",
    "measured_protocol_note", "metric_label", "protocol_text", "published_path", "registered_suite", "render_csv",
    "render_json", "render_latex", "render_markdown", "render_rich", "row_decimals", "row_flags", "row_from_result",
]  # fmt: skip
