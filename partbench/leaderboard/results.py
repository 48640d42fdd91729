"""Reading results files: find them, validate them, turn each into a measured `Row`.

A results file is the `results.json` a run leaves (written by `partbench.run.results`); only what the tables need
from it is checked (`REQUIRED_KEYS`, the schema version, number types), so a hand-written file with those keys
tabulates too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError
from partbench.leaderboard.types import MEASURED, Row, metric_number

if TYPE_CHECKING:
    from partbench.suites import Suite

REQUIRED_KEYS = ("suite", "method", "metrics")
SUPPORTED_SCHEMA = 1


def load_result(path: Path) -> dict[str, Any]:
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
        lo, hi = (metric_number(x, f"{path}: ci95[{k!r}]") for x in v)
        if lo is not None and hi is not None:
            out[k] = (lo, hi)
    return out


@cache
def registered_suite(name: str) -> Suite | None:
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


def row_from_result(data: dict[str, Any], path: Path | None = None) -> Row:
    """Turn a validated results dict into a measured `Row` (stale and smoke flags included)."""
    where = str(path) if path else "results"
    metrics = {str(k): metric_number(v, f"{where}: metrics[{k!r}]") for k, v in data["metrics"].items()}
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
    elif "ci_method" in data:  # written by the part-segmentation scorer, which versions how it computes numbers
        from partbench.metrics.version import CONVENTION_VERSION

        scored = data.get("convention_version", 1)
        if scored != CONVENTION_VERSION:
            stale = f"re-run: scored under convention version {scored}, this partbench's is {CONVENTION_VERSION}"
    n = data.get("n_samples")
    limit = data.get("limit")
    about_data = data.get("data") if isinstance(data.get("data"), dict) else {}
    data_fingerprint = about_data.get("fingerprint")
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
        limit=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
        data_fingerprint=data_fingerprint if isinstance(data_fingerprint, str) else None,
        incomplete=about_data.get("complete") is False,
        gt_resize=str(data["gt_resize"]) if data.get("gt_resize") else None,
        image_size=image_size_text(data),
        path=path,
    )


def image_size_text(data: dict[str, Any]) -> str | None:
    """"WxH" of a generation run's images as its method recorded them (`method_config.image_size` [w, h]), else None
    (older runs, methods that do not say)."""
    config = data.get("method_config")
    size = config.get("image_size") if isinstance(config, dict) else None
    if (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        return f"{size[0]}x{size[1]}"
    return None


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


def load_rows(files: Iterable[Path],
              on_error: Callable[[Path, PartbenchError], None] | None = None) -> list[Row]:
    """Rows of these results files. With `on_error`, a file that cannot be read is reported to it and skipped (one
    broken run must not hide all the others); without, its error propagates."""
    rows = []
    for f in files:
        try:
            rows.append(row_from_result(load_result(f), Path(f)))
        except PartbenchError as e:
            if on_error is None:
                raise
            on_error(Path(f), e)
    return rows
