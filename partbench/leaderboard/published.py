"""Published reference numbers: `published.yaml`, shipped as the package data `partbench.leaderboards`.

The file lives in the repository's `leaderboards/` folder (its README describes the sources); pyproject.toml installs
that folder as `partbench.leaderboards`, so editable and wheel installs read the same file.
"""

from __future__ import annotations

from pathlib import Path

from partbench.errors import PartbenchError
from partbench.leaderboard.types import PUBLISHED, Row, metric_number

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


def load_published(path: Path | None = None) -> list[Row]:
    """Published rows from `published.yaml` (see the schema comment at the top of that file)."""
    import yaml

    path = Path(path) if path else published_path()
    if not path.is_file():
        raise PartbenchError(
            f"published reference numbers not found at {path} (they install with partbench as the package data "
            f"{PUBLISHED_PACKAGE}; reinstall partbench, or pass --no-published)."
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
                decimals=int(e["decimals"]) if e.get("decimals") is not None else None,
                path=path,
            )
        )
    return rows
