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


def mark_part(prompt: str, part: str | None, instruction: str | None = None, template: str | None = None,
              where: str = "prompt") -> str:
    """Mark `part` in an unmarked generation prompt (prompts already marked stay as they are).

    Anchored on the prompt record: the part is looked for inside `instruction` (the last occurrence of it in the
    prompt: the suite's prompts end with it), at the offset `template` puts `{part}` when it says so, else as its only
    whole-word occurrence there. Why: a plain substring search marks "[pot]ted plant" for the part "pot", and word
    boundaries alone still mark "potted [plant]" (the class name) for the part "plant". Without an instruction the
    part must occur exactly once as a whole word; ambiguity or a record that contradicts itself is an error naming
    `where`, never a silently wrong mark."""
    if "[" in prompt or not part:
        return prompt
    if instruction:
        base = prompt.rfind(instruction)
        if base < 0:
            raise PartbenchError(f"PartConcepts: {where}: its instruction {instruction!r} is not in its prompt "
                                 f"{prompt!r}; cannot tell where the part {part!r} is.")
        start = base + _part_offset(instruction, part, template, where)
    else:
        hits = _whole_words(prompt, part)
        if not hits:
            return prompt  # nothing to mark: generated without a PartConcept token, as a plain prompt
        if len(hits) > 1:
            raise PartbenchError(f"PartConcepts: {where}: the part {part!r} occurs {len(hits)} times in {prompt!r}; "
                                 "give the record an 'instruction' field or mark the part as [part] in the prompt.")
        start = hits[0]
    return f"{prompt[:start]}[{part}]{prompt[start + len(part):]}"


def _whole_words(text: str, phrase: str) -> list[int]:
    return [m.start() for m in re.finditer(rf"(?<!\w){re.escape(phrase)}(?!\w)", text)]


def _part_offset(instruction: str, part: str, template: str | None, where: str) -> int:
    """Where `part` starts inside `instruction`: at the template's `{part}` slot when the text before the slot is
    fixed (no other slot), else its only whole-word occurrence."""
    if template and "{part}" in template:
        prefix = template.split("{part}", 1)[0]
        if "{" not in prefix and instruction.startswith(prefix) and instruction[len(prefix):].startswith(part):
            return len(prefix)
    hits = _whole_words(instruction, part)
    if len(hits) != 1:
        raise PartbenchError(f"PartConcepts: {where}: the part {part!r} occurs {len(hits)} times as a word in its "
                             f"instruction {instruction!r}; cannot mark it.")
    return hits[0]


def mark_prompt_item(item) -> str:
    """The marked text of a generation prompt: a string as it is, a `PromptItem` marked from its own record
    (`part_phrase` = `item.part`, `instruction`, `template`)."""
    if isinstance(item, str):
        return item
    meta = getattr(item, "meta", None) or {}
    return mark_part(item.prompt, getattr(item, "part", None), meta.get("instruction"), meta.get("template"),
                     where=f"prompt {getattr(item, 'id', '?')}")
