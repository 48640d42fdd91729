"""What the text encoder reads for a sample's parts, and which text columns each part's map averages.

Upstream (`seg4diff_model_ovss.py`): the prompt is the class names joined by single spaces; class c's columns are
the n_c tokens its name has when tokenised alone (no BOS/EOS), walked in order from the first content column (1
after CLIP's BOS; 0 for T5, which has none), and its map is the mean over those columns. That walk assumes the joined
prompt tokenises as the concatenation of its names; upstream never checks it. Here it is checked for every prompt and
every tokenizer that reads it, and a name that tokenises differently inside the prompt is refused, never misaligned.

Part names: "dog's left front paw" is read as "dog left front paw" (`part_text=object-part`, the `'s` removed as
partbench's CLIPSeg and ConceptAttention adapters do) or "left front paw" (`part_text=part`).

Names whose tokens exceed what the text encoder reads (CLIP: 75 between BOS and EOS; FLUX.1's T5:
max_sequence_length - 1 before EOS) are split into several prompts of whole names in order, run as rows of one
batched forward (`overflow=split`), or refused (`overflow=refuse`). Nothing is ever truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from partbench.adapters.conceptattention.method import concept_text
from partbench.errors import PartbenchError


def phrase(class_name: str, part_text: str = "object-part") -> str:
    """The words a part class is read as: `dog's head` -> `dog head` (object-part) or `head` (part)."""
    if part_text == "part" and "'s " in class_name:
        class_name = class_name.split("'s ", 1)[1]
    return " ".join(concept_text(class_name).split())


@dataclass(frozen=True)
class PromptPlan:
    """The prompts of one sample (one forward row each) and, per name in the order given, its (row, columns)."""

    prompts: tuple[str, ...]
    columns: tuple[tuple[int, tuple[int, ...]], ...]

    @property
    def n_cols(self) -> int:
        """Text columns the maps need, counted from the first text token."""
        return max(cols[-1] for _, cols in self.columns) + 1


def _ids(tokenizer: Any, text: str, special: bool) -> list[int]:
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def content_start(tokenizer: Any) -> int:
    """The first content column: 1 after a BOS token (CLIP), 0 without one (T5)."""
    ids = _ids(tokenizer, "", True)
    return 1 if ids and tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id else 0


def content_budget(tokenizer: Any, max_length: int) -> int:
    """Content tokens a prompt may have: the encoder's length less its special tokens (CLIP: 77 - 2)."""
    return max_length - len(_ids(tokenizer, "", True))


def plan_prompts(names: Sequence[str], tokenizers: Sequence[Any], max_length: int, overflow: str = "split"
                 ) -> PromptPlan:
    """Split `names` into prompts that fit `max_length` tokens and find each name's columns (upstream's walk),
    checked against every tokenizer in `tokenizers` (SD3 reads the prompt with CLIP-L and CLIP-G)."""
    first = tokenizers[0]
    budget = content_budget(first, max_length)
    counts = [len(_ids(first, n, False)) for n in names]
    rows: list[list[int]] = [[]]
    used = 0
    for i, n in enumerate(counts):
        if n > budget:
            raise PartbenchError(f"seg4diff: the part name {names[i]!r} alone has {n} tokens, more than the {budget} "
                                 "the text encoder reads; it cannot be prompted without truncation.")
        if rows[-1] and used + n > budget:
            if overflow == "refuse":
                raise PartbenchError(f"seg4diff: the part names {list(names)} have {sum(counts)} tokens, more than "
                                     f"the {budget} the text encoder reads (overflow=refuse); overflow=split prompts "
                                     "them in several forward rows.")
            rows.append([])
            used = 0
        rows[-1].append(i)
        used += n
    prompts = tuple(" ".join(names[i] for i in row) for row in rows)
    columns: list[tuple[int, tuple[int, ...]]] = [(0, ())] * len(names)
    for tokenizer in tokenizers:
        start = content_start(tokenizer)
        for r, row in enumerate(rows):
            ids = _ids(tokenizer, prompts[r], True)
            col = start
            for i in row:
                own = _ids(tokenizer, names[i], False)
                if ids[col:col + len(own)] != own:
                    raise PartbenchError(f"seg4diff: {names[i]!r} tokenises differently inside the prompt "
                                         f"{prompts[r]!r} than alone, so its text columns cannot be found.")
                span = (r, tuple(range(col, col + len(own))))
                if tokenizer is not first and span != columns[i]:
                    raise PartbenchError(f"seg4diff: the text encoders' tokenizers place {names[i]!r} at different "
                                         "positions; their columns cannot be shared.")
                columns[i] = span
                col += len(own)
    return PromptPlan(prompts, tuple(columns))


def class_maps(i2t: Any, plan: PromptPlan) -> Any:
    """(C, image tokens): each name's map, the mean of its columns of `i2t` (rows, image tokens, columns)."""
    import torch

    return torch.stack([i2t[row, :, list(cols)].mean(-1) for row, cols in plan.columns])
