"""Answers given twice: one rater, one item, more than one vote (a participant who submitted the study twice, a file
passed twice, a CSV row repeated).

Identical repeats count once and are reported. Conflicting repeats (different choices) are the participant's own
two answers disagreeing, so no order of files can say which one is "the" answer: by default ("exclude") the rater
is excluded and reported by id. "first"/"last" keep one submission on purpose; they order a rater's answers by the
time the page recorded the submission as finished when every conflicting answer carries one, and otherwise by the
input order (files in the order given, then rows), and the report says which order decided for each rater.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from partbench.userstudy.analyze import Vote

POLICIES = ("exclude", "first", "last")


def _time(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        t = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)  # the page writes UTC (toISOString)


def _in_submission_order(votes: list[Vote]) -> tuple[list[Vote], str]:
    times = [_time(v.submitted) for v in votes]
    if all(t is not None for t in times):
        order = sorted(range(len(votes)), key=lambda i: (times[i], votes[i].seq))
        return [votes[i] for i in order], "submission time"
    return sorted(votes, key=lambda v: v.seq), "input order"


def resolve_duplicates(votes: list[Vote], policy: str) -> tuple[list[Vote], dict[str, Any]]:
    """One vote per (rater, item), and the report of what was repeated. Under "exclude" the vote kept for a
    conflicting item is only a placeholder: the caller drops the rater (listed under `conflicting.raters`)."""
    groups: dict[tuple[str, str], list[Vote]] = defaultdict(list)
    for v in votes:
        groups[(v.rater, v.item_id)].append(v)
    unique: list[Vote] = []
    identical_n, identical_raters = 0, set()
    conflicting_n, conflicting_items = 0, defaultdict(list)
    resolved_by: dict[str, set[str]] = defaultdict(set)
    for (rater, item_id), group in groups.items():
        if len(group) == 1:
            unique.append(group[0])
            continue
        ordered, basis = _in_submission_order(group)
        unique.append(ordered[-1] if policy == "last" else ordered[0])
        if len({v.choice for v in group}) == 1:
            identical_n += len(group) - 1
            identical_raters.add(rater)
        else:
            conflicting_n += len(group) - 1
            conflicting_items[rater].append(item_id)
            resolved_by[rater].add(basis)
    report = {
        "policy": policy,
        "identical": {"n_answers": identical_n, "raters": sorted(identical_raters)},
        "conflicting": {"n_answers": conflicting_n, "raters": sorted(conflicting_items),
                        "items": {r: sorted(i) for r, i in sorted(conflicting_items.items())},
                        "resolved_by": {} if policy == "exclude" else
                        {r: " and ".join(sorted(b)) for r, b in sorted(resolved_by.items())}},
    }
    return unique, report
