"""What each training step trains on, decided in the main process before any image is read: which entries (crops,
mirrored or not), with which prompt, and which of the crop's parts are the prompt's PartConcepts, in order.

Why plans: every random draw of the data pipeline happens here, from one `random.Random` stream, in the order the
pre-streaming trainer drew them (per micro-batch: the entries, then each entry's prompt). DataLoader workers only
read and crop what a plan names, so the samples and prompts do not depend on the number of workers or processes,
and a run with N processes sees exactly the global batches of a run with one (each process takes its slice).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from partbench.errors import PartbenchError
from partbench.methods.partconcepts.prompts import parse_marked_prompt, part_prompt
from partbench.suites import mirrored_phrase


@dataclass(frozen=True)
class Plan:
    """One sample of a micro-batch: the training entry, its prompt, and per PartConcept of the prompt (in order) the
    index of its part among the crop's parts (the target's channel)."""

    entry: int
    prompt: str
    select: tuple[int, ...]


@dataclass(frozen=True)
class EntryInfo:
    """What planning needs to know of an entry without reading it."""

    sample_id: str
    object_class: str
    parts: tuple[str, ...]
    flipped: bool


def load_captions(path: Path | None) -> dict[str, list[str]]:
    """`{"sample_id": ..., "caption": "... [part] ..."}` lines -> captions per sample id."""
    if path is None:
        return {}
    out: dict[str, list[str]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise PartbenchError(f"PartConcepts captions {path}: cannot read ({e}).") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            parse_marked_prompt(row["caption"])
            out.setdefault(row["sample_id"], []).append(row["caption"])
        except (ValueError, KeyError, TypeError, PartbenchError) as e:
            raise PartbenchError(f"PartConcepts captions {path}, line {n}: expected "
                                 f'{{"sample_id": ..., "caption": "... [part] ..."}} ({e}).') from None
    return out


def _part_subset(parts: tuple[str, ...], rng: random.Random, max_parts: int | None) -> list[int]:
    """Indices of up to `max_parts` of `parts` in a random order; a part and its mirror ('left hand', 'right hand')
    are kept or dropped together, so the pair still competes for its pixels."""
    order = list(range(len(parts)))
    rng.shuffle(order)
    if not max_parts or len(parts) <= max_parts:
        return order
    index = {p: i for i, p in enumerate(parts)}
    chosen: list[int] = []
    for i in order:
        if i in chosen:
            continue
        mirror = index.get(mirrored_phrase(parts[i]) or "")
        group = [i] if mirror in (None, i) else [i, mirror]
        if len(chosen) + len(group) <= max_parts:
            chosen += group
    rng.shuffle(chosen)
    return chosen


def make_plan(entry: int, info: EntryInfo, rng: random.Random, captions: dict[str, list[str]], caption_prob: float,
              max_parts: int | None = None) -> Plan:
    """A prompt for the entry and its targets' order: the object's parts in a random order (or a caption's marked
    phrases, unflipped crops only: a caption's left/right would be wrong in the mirror image)."""
    index = {p: i for i, p in enumerate(info.parts)}
    options = [c for c in captions.get(info.sample_id, []) if not info.flipped]
    if options and rng.random() < caption_prob:
        caption = rng.choice(options)
        phrases = parse_marked_prompt(caption).phrases
        if all(p in index for p in phrases):
            return Plan(entry, caption, tuple(index[p] for p in phrases))
    order = _part_subset(info.parts, rng, max_parts)
    return Plan(entry, part_prompt(info.object_class, [info.parts[i] for i in order]), tuple(order))


class PlanBatches:
    """This process's micro-batches from `start_step` to `steps` (`grad_accum` per step). Each global micro-batch
    holds `batch_size * world` plans drawn in one stream; process `rank` takes its slice. Iterable once per
    `iter()`, so a DataLoader can use it as its batch sampler."""

    def __init__(self, infos: Sequence[EntryInfo], seed: int, start_step: int, steps: int, grad_accum: int,
                 batch_size: int, captions: dict[str, list[str]], caption_prob: float, max_parts: int | None,
                 world: int = 1, rank: int = 0):
        self.infos, self.seed, self.start_step, self.steps = infos, seed, start_step, steps
        self.grad_accum, self.batch_size, self.captions = grad_accum, batch_size, captions
        self.caption_prob, self.max_parts, self.world, self.rank = caption_prob, max_parts, world, rank

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.grad_accum

    def __iter__(self) -> Iterator[list[Plan]]:
        rng = random.Random(self.seed * 1_000_003 + self.start_step)  # a resumed run continues a deterministic stream
        n, b = len(self.infos), self.batch_size
        for _ in range(len(self)):
            idx = [rng.randrange(n) for _ in range(b * self.world)]
            plans = [make_plan(i, self.infos[i], rng, self.captions, self.caption_prob, self.max_parts) for i in idx]
            yield plans[self.rank * b:(self.rank + 1) * b]
