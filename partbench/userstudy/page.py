"""Renders the study page from `templates/study.html.j2` (jinja2, autoescape on).

Item data reaches the page as JSON inside a `<script type="application/json">` block (jinja2's `tojson` escapes
`<`, `>`, `&` and `'`), and the page's script puts prompts into the document with `textContent` only, so a prompt
containing markup is shown as text, never interpreted.
"""

from __future__ import annotations

from typing import Any


def render_page(manifest: dict[str, Any], items: list[dict[str, Any]], completion_code: str | None) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("partbench.userstudy", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
                      keep_trailing_newline=True)
    data = {"pack_id": manifest["pack_id"], "question": manifest["question"], "items": items,
            "completion_code": completion_code}
    return env.get_template("study.html.j2").render(title=manifest["title"], question=manifest["question"],
                                                      n_items=len(items), data=data)
