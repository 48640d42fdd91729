"""Published reference numbers: `published.yaml`, shipped as the package data `partbench.leaderboards`.

The file lives in the repository's `leaderboards/` folder (its README describes the sources); pyproject.toml installs
that folder as `partbench.leaderboards`, so editable and wheel installs read the same file.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError
from partbench.leaderboard.types import PUBLISHED, PreferenceRow, Row, metric_number

PUBLISHED_PACKAGE = "partbench.leaderboards"
PUBLISHED_FILE = "published.yaml"


def published_path() -> Path:
    """`published.yaml` of the installed `partbench.leaderboards` package.

    When that package cannot be imported (a broken install), this is the path it would install to, which then does
    not exist, so `load_published` reports it as missing.
    """
    from importlib.resources import files

    try:
        package = files(PUBLISHED_PACKAGE)
    except ModuleNotFoundError:
        import partbench

        return Path(partbench.__file__).resolve().parent / "leaderboards" / PUBLISHED_FILE
    # installs are unpacked directories, so the resource is a file on disk
    return Path(str(package.joinpath(PUBLISHED_FILE)))


def _read(path: Path | None) -> tuple[Path, Any]:
    path = Path(path) if path else published_path()
    if not path.is_file():
        raise PartbenchError(
            f"published reference numbers not found at {path} (they install with partbench as the package data "
            f"{PUBLISHED_PACKAGE}; reinstall partbench, or pass --no-published)."
        )
    return path, _parsed(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _parsed(path: str, mtime_ns: int) -> Any:
    """The YAML of `path`, parsed once per version of the file: a table reads both the rows and the preferences of
    it. Callers only read the result."""
    import yaml

    from partbench.yaml_io import safe_load

    try:
        return safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PartbenchError(f"{path}: invalid YAML ({e}).") from None


def load_published(path: Path | None = None) -> list[Row]:
    """Published rows from `published.yaml` (see the schema comment at the top of that file)."""
    path, raw = _read(path)
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
        label = f"{where} ({e['method']})"
        metrics = {str(k): metric_number(v, f"{label}: metrics[{k!r}]") for k, v in e["metrics"].items()}
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
                unverified=e.get("verified", True) is False,
                uses_gt_mask=_flag(e, "uses_gt_mask", label),
                decimals=int(e["decimals"]) if e.get("decimals") is not None else None,
                path=path,
            )
        )
    return rows


def _flag(entry: dict[str, Any], key: str, where: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise PartbenchError(f"{where}: {key!r} must be true or false, not {value!r}.")
    return value


def _text(entry: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PartbenchError(f"{where}: {key!r} must be a non-empty string, not {value!r}.")
    return value


def load_preferences(path: Path | None = None) -> list[PreferenceRow]:
    """Published user-study preferences from `published.yaml`'s optional `preferences` list: per entry the suite,
    `method` (the one preferred `percent` % of the time), `versus`, `percent` in [0, 100], `responses` (a positive
    integer) and `citation` are required; anything else wrong is an error naming the entry."""
    path, raw = _read(path)
    entries = raw.get("preferences", []) if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise PartbenchError(f"{path}: 'preferences' must be a list.")
    out = []
    for i, e in enumerate(entries):
        where = f"{path}: preferences entry {i + 1}"
        if not isinstance(e, dict):
            raise PartbenchError(f"{where} must be a mapping.")
        where += f" ({e.get('method', '?')} vs {e.get('versus', '?')})"
        percent = metric_number(e.get("percent"), f"{where}: 'percent'")
        if percent is None or not 0 <= percent <= 100:
            raise PartbenchError(f"{where}: 'percent' must be a number in [0, 100], not {e.get('percent')!r}.")
        responses = e.get("responses")
        if isinstance(responses, bool) or not isinstance(responses, int) or responses <= 0:
            raise PartbenchError(f"{where}: 'responses' must be a positive integer, not {responses!r}.")
        decimals = e.get("decimals")
        if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0):
            raise PartbenchError(f"{where}: 'decimals' must be a non-negative integer, not {decimals!r}.")
        out.append(PreferenceRow(
            suite=_text(e, "suite", where), method=_text(e, "method", where), versus=_text(e, "versus", where),
            percent=percent, responses=responses, citation=_text(e, "citation", where), decimals=decimals,
            versus_uses_gt_mask=_flag(e, "versus_uses_gt_mask", where),
            question=_text(e, "question", where, required=False), note=_text(e, "note", where, required=False),
            unverified=e.get("verified", True) is False, path=path))  # type: ignore[arg-type]
    return out
