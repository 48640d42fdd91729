"""Renders the study page from `templates/study.html.j2` (jinja2, autoescape on).

Item data reaches the page as JSON inside a `<script type="application/json">` block (jinja2's `tojson` escapes
`<`, `>`, `&` and `'`), and the page's script puts prompts into the document with `textContent` only, so a prompt
containing markup is shown as text, never interpreted.
"""

from __future__ import annotations

from typing import Any


def render_page(manifest: dict[str, Any], items: list[dict[str, Any]], code_salt: str | None,
                submit_text: str) -> str:
    """`code_salt` None: no completion code at the end. The page holds the salt, never a code: it computes the code
    from the answers when the study ends (see completion.py for why and for what this does and does not prevent)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from partbench.userstudy.completion import CODE_LENGTH, CODE_SCHEME

    env = Environment(loader=PackageLoader("partbench.userstudy", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
                      keep_trailing_newline=True)
    editing = manifest.get("task") == "part-editing"  # each item also shows its source image and part
    data = {"pack_id": manifest["pack_id"], "question": manifest["question"], "items": items,
            "code_salt": code_salt, "code_scheme": CODE_SCHEME, "code_length": CODE_LENGTH} | (
        {"editing": True} if editing else {})
    return env.get_template("study.html.j2").render(title=manifest["title"], question=manifest["question"],
                                                      n_items=len(items), data=data, submit_text=submit_text,
                                                      with_code=code_salt is not None, editing=editing)
