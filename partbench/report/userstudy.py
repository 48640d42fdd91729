"""User-study results in a report: the preference table of each `partbench userstudy analyze` output, and its
chart copied beside the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError
from partbench.report.files import ReportFiles


def _analysis_file(path: Path) -> Path:
    """`analysis.json` itself, the analysis folder, or the study pack folder (`<pack>/analysis/analysis.json`)."""
    path = Path(path)
    for candidate in (path, path / "analysis.json", path / "analysis" / "analysis.json"):
        if candidate.is_file():
            return candidate
    raise PartbenchError(f"{path}: no user-study analysis here (expected analysis.json, or a pack folder holding "
                         "analysis/analysis.json: run `partbench userstudy analyze` first).")


def _pct(x: Any) -> str:
    return "—" if not isinstance(x, (int, float)) else f"{100 * x:.1f}"


def _ci(iv: Any) -> str:
    return "—" if not iv else f"[{100 * iv[0]:.1f}, {100 * iv[1]:.1f}]"


def _p(x: Any) -> str:
    return "—" if not isinstance(x, (int, float)) else f"{x:.3g}"


def userstudy_sections(paths: list[Path], files: ReportFiles) -> list[dict[str, Any]]:
    from partbench.report.gallery import png_size
    from partbench.store.atomic import read_json

    out = []
    for i, path in enumerate(paths):
        source = _analysis_file(path)
        result = read_json(source)
        try:
            rows = [[r["baseline"], _pct(r.get("preference")), _ci(r.get("ci95_exact")),
                     _ci(r.get("ci95_rater_bootstrap")), _p(r.get("p_value")), _p(r.get("p_value_holm")),
                     str(r.get("n_raters", "—")), str(r.get("n_votes", "—"))] for r in result["baselines"]]
            title = f"{result['reference']} preferred over each baseline ({result.get('question', '')})"
        except (KeyError, TypeError) as e:
            raise PartbenchError(f"{source}: not a `partbench userstudy analyze` result (missing {e}).") from None
        chart = None
        for name in ("preferences.png",):
            png = source.parent / name
            if png.is_file():
                data = png.read_bytes()
                rel = files.add(f"userstudy/{i}-{name}", data)
                width, height = png_size(data)
                chart = {"src": rel, "width": width, "height": height}
        out.append({"title": title, "source": str(source), "chart": chart, "rows": rows,
                    "kept": result.get("n_raters_kept"), "total": result.get("n_raters_total"),
                    "headers": ["baseline", "pref. %", "exact 95% CI", "rater-bootstrap 95% CI", "p", "p (Holm)",
                                "raters", "votes"]})
    return out
