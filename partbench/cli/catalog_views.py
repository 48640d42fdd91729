"""How `partbench suites` and `partbench methods` print: a compact one-line-per-item table that fits 80 columns, the
steps for what is missing below it (wrapped at spaces, commands kept whole), and one item's details on request.

Nothing here cuts a name, a repo id or a command: the tables hold only short cells, and long text goes through
`partbench.textfit.wrap_keep`.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from partbench.console import console
from partbench.textfit import fit_table, print_wrapped, stacked_records

LABEL_WIDTH = 12  # the key column of a details view


def _compact_table(title: str, headers: list[tuple[str, str]], rows: list[list[Any]]) -> None:
    """A borderless table whose columns never wrap; one block per row when even that is wider than the terminal."""
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1), show_edge=False,
                  header_style="bold")
    for header, justify in headers:
        table.add_column(header, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(fit_table(table, console, lambda: stacked_records(title, [h for h, _ in headers], rows)))


def _details(title: str, fields: list[tuple[str, str | list[str]]]) -> None:
    """`key  value` lines, values wrapped under themselves; a list value gets one paragraph per item."""
    console.print(Text(title, style="bold"))
    pad = " " * (LABEL_WIDTH + 2)
    for key, value in fields:
        items = [value] if isinstance(value, str) else value
        hang = pad if isinstance(value, str) else pad + "  "  # list items: continuation lines indented under their item
        for i, item in enumerate(items):
            if item:
                print_wrapped(console, item, indent=f"  {key:<{LABEL_WIDTH}}" if i == 0 else pad, subsequent=hang)


# -- suites --------------------------------------------------------------------------------------------------------
def print_suites(rows: list[dict[str, Any]], root: str) -> None:
    table_rows = [[f"{r['name']} [dim]v{r['version']}[/]", r["task"], _count(r["classes"]), _count(r["unseen"]),
                   _count(r["mirrored_pairs"]), "[green]yes[/]" if r["data_present"] else "[red]no[/]"] for r in rows]
    _compact_table(f"partbench suites (data root: {root})",
                   [("suite", "left"), ("task", "left"), ("classes", "right"), ("unseen", "right"), ("L/R", "right"),
                    ("data", "left")],
                   [[Text.from_markup(c) for c in row] for row in table_rows])
    print_wrapped(console, "Details: `partbench suites NAME`; class ids: `partbench suites NAME --classes`; "
                  "machine-readable: --json.", style="dim")
    missing = [r for r in rows if not r["data_present"]]
    if missing:
        console.print()
        console.print(Text("Data not found under the data root:", style="bold"))
        for r in missing:
            console.print(Text.assemble((r["name"], "bold"), f": expected at {r['data_path']}"), soft_wrap=True,
                          highlight=False)
            print_wrapped(console, r["obtain"], indent="  ")


def _count(n: int | None) -> str:
    """A class count; "—" where the suite has no part classes (a generation, reasoning or editing suite)."""
    return "—" if n is None else str(n)


def print_suite_details(r: dict[str, Any]) -> None:
    where = ("present at " if r["data_present"] else "not found; expected at ") + r["data_path"]
    classes = ("none: " + (r.get("size") or "not a part segmentation suite") if r["classes"] is None else
               f"{r['classes']} ({r['seen']} seen, {r['unseen']} unseen) over {r['objects']} objects")
    _details(f"{r['name']} v{r['version']}: {r['title']}", [
        ("task", r["task"]),
        ("about", r.get("description") or ""),
        ("classes", classes),
        ("L/R pairs", _count(r["mirrored_pairs"])),
        ("setting", r["setting"] or ""),
        ("convention", r.get("convention") or ""),
        ("splits", ", ".join(r.get("splits") or ())),
        ("task args", ["--method-arg key=value, taken by the task kind (never the method):",
                       *_param_lines(r["task_args"])] if r.get("task_args") else ""),
        ("data", where),
        ("get it", r["obtain"] or ""),
    ])


# -- methods -------------------------------------------------------------------------------------------------------
def param_records(params: Any) -> list[dict[str, Any]]:
    """Declared `--method-arg`s (`Param`s) as --json lists them."""
    return [{"name": p.name, "type": getattr(p.type, "__name__", str(p.type)), "default": p.default,
             "choices": list(p.choices), "min": p.min, "max": p.max, "bounds": p.bounds, "help": p.help}
            for p in params or ()]


def _param_lines(records: list[dict[str, Any]]) -> list[str]:
    return [f"{p['name']} ({p['type']}" + (f" {p['bounds']}" if p["bounds"] else "")
            + (f", one of {'|'.join(p['choices'])}" if p["choices"] else "")
            + (f", default {p['default']}" if p["default"] is not None else "") + ")"
            + (f": {p['help']}" if p["help"] else "") for p in records]


def _smoke_hint(r: dict[str, Any]) -> str:
    """A method that cannot run here for want of weights alone may still run its tiny preset, which needs none."""
    tiny = any(p["name"] == "preset" and "tiny" in p["choices"] for p in r["params"])
    weights_only = all(m.startswith("weights") for m in r["missing"])
    return " (its tiny preset runs without weights: -a preset=tiny, a smoke test)" if tiny and weights_only else ""


def method_record(m: Any) -> dict[str, Any]:
    missing = m.missing()
    params = param_records(m.params)
    return {"name": m.name, "kind": "/".join(m.kinds), "summary": m.summary, "gpu": m.gpu,
            "extras": list(m.extras), "weights": m.weights, "runnable": not missing, "missing": missing,
            "params": params}


def print_methods(rows: list[dict[str, Any]]) -> None:
    table_rows = [[Text(r["name"]), Text(r["kind"]), Text(r["gpu"]),
                   Text("yes", style="green") if r["runnable"] else Text("no", style="red")] for r in rows]
    _compact_table("partbench methods", [("method", "left"), ("kind", "left"), ("GPU", "left"),
                                         ("runs here", "left")], table_rows)
    print_wrapped(console, "Details (what it is, weights, arguments): `partbench methods NAME`; machine-readable: "
                  "--json.", style="dim")
    needs = [r for r in rows if r["weights"] or not r["runnable"]]
    if needs:
        console.print()
        console.print(Text("Weights, and what is missing here with how to get it:", style="bold"))
        for r in needs:
            print_wrapped(console, f"{r['name']}: " + (r["weights"] or "no weights"), subsequent="  ")
            if r["missing"]:
                print_wrapped(console, "missing: " + "; ".join(r["missing"]), indent="  ", subsequent="    ")


def print_method_details(r: dict[str, Any]) -> None:
    params = _param_lines(r["params"])
    _details(f"{r['name']} ({r['kind']})", [
        ("what it is", r["summary"]),
        ("GPU", r["gpu"]),
        ("weights", r["weights"]),
        ("python", ", ".join(r["extras"])),
        ("arguments", ["--method-arg key=value, with key:", *params] if params else ""),
        ("runs here", "yes" if r["runnable"] else "no" + _smoke_hint(r)),
        ("missing", "; ".join(r["missing"])),
    ])
