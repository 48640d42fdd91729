"""Marked prompts: `a photo of a person with [right upper arm] colored green` names its PartConcepts in brackets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from partbench.errors import PartbenchError

_MARK = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True)
class MarkedPrompt:
    """A prompt with its brackets removed, and each marked phrase with its character span in `text`."""

    text: str
    phrases: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


def parse_marked_prompt(prompt: str) -> MarkedPrompt:
    """Strip the `[phrase]` marks, keeping where each phrase sits in the clean text."""
    if not isinstance(prompt, str):
        raise PartbenchError(f"PartConcepts: a prompt must be a string, got {type(prompt).__name__}.")
    parts, phrases, spans, pos = [], [], [], 0
    length = 0
    for m in _MARK.finditer(prompt):
        before = prompt[pos:m.start()]
        parts.append(before)
        length += len(before)
        phrase = m.group(1).strip()
        if not phrase:
            raise PartbenchError(f"PartConcepts: empty [] in prompt {prompt!r}.")
        parts.append(phrase)
        phrases.append(phrase)
        spans.append((length, length + len(phrase)))
        length += len(phrase)
        pos = m.end()
    rest = prompt[pos:]
    if "[" in rest or "]" in rest or any("[" in p or "]" in p for p in parts):
        raise PartbenchError(f"PartConcepts: unbalanced or nested brackets in prompt {prompt!r}.")
    return MarkedPrompt("".join(parts) + rest, tuple(phrases), tuple(spans))


def part_prompt(object_class: str, parts: Sequence[str]) -> str:
    """The training/segmentation prompt: `a photo of a cow with [head], [neck] and [tail]`."""
    marked = [f"[{p}]" for p in parts]
    listed = marked[0] if len(marked) == 1 else ", ".join(marked[:-1]) + " and " + marked[-1]
    return f"a photo of a {object_class} with {listed}"


def mark_part(prompt: str, part: str | None) -> str:
    """Mark the first occurrence of `part` in an unmarked generation prompt (prompts already marked stay as they
    are)."""
    if "[" in prompt or not part:
        return prompt
    i = prompt.find(part)
    return prompt if i < 0 else f"{prompt[:i]}[{part}]{prompt[i + len(part):]}"
