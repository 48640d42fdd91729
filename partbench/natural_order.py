"""Natural order for run names and paths: `seg4diff@layer=2` before `seg4diff@layer=10`, as a person counts.

The sibling runs of a layer sweep (`seg4diff@layer=K`, partbench.cli.sweep) differ only by a number; sorted as text,
layer 10 would come between layers 1 and 2 in every table and report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

_NUMBER = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[str, int], ...]:
    """Text split into alternating (text, 0) and ("", number) parts that compare as a person reads them."""
    return tuple((part, 0) if k % 2 == 0 else ("", int(part)) for k, part in enumerate(_NUMBER.split(text)))


def path_key(path: Path) -> tuple[tuple[tuple[str, int], ...], ...]:
    return tuple(natural_key(part) for part in Path(path).parts)


def runs_in_natural_order(files: Sequence[Path], named: Sequence[Path] | None) -> list[Path]:
    """The results files `leaderboard.find_result_files` found, each folder's runs in natural order.

    The paths the user named keep their order (a table lists their runs in that order); only the runs found inside
    one named folder, or under the runs root when none is named, are ordered among themselves.
    """
    named = [Path(p) for p in named or ()]

    def origin(f: Path) -> int:
        for k, p in enumerate(named):
            if f == p or p in f.parents:
                return k
        return len(named)

    return sorted(files, key=lambda f: (origin(Path(f)), path_key(Path(f))))
