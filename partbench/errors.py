"""Errors a user can act on. The CLI prints their message without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PartbenchError(Exception):
    """A problem with the user's input, data or environment, described so that the user can fix it."""


class UnknownNameError(PartbenchError):
    """An unknown suite, method, convention... with close matches offered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"Unknown {kind} {name!r}.{hint} Known: {', '.join(known)}.")
        self.name = name
        self.suggestions = close


class DataNotFoundError(PartbenchError):
    """A dataset (or part of one) is missing from the data root; the message says what to get and where to put it."""
