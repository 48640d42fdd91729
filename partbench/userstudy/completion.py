"""Completion codes derived from a participant's answers, so that the study page holds no fixed code to copy.

Threat model (stated in docs/userstudy.md too): a static page cannot keep a secret from the person who loads it, so
the page carries the per-pack salt and computes `code = SHA-256(scheme, salt, pack id, participant id, answers)`
(first 8 hex digits, upper case) only when the last pair is answered. What this prevents is reading a code out of
the page source and submitting it without doing the study: a code must match a set of answers, and `analyze`
recomputes it from the answers file with the salt stored in the private key. A determined participant who reads
the script can still compute a valid code for made-up answers; those answers then go through the gold, speed and
duplicate checks like any other.

The page (templates/study.html.j2) computes the same string with `crypto.subtle` (or its bundled SHA-256 where
`crypto.subtle` is unavailable); tests/userstudy/test_browser.py checks that both agree with this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

CODE_SCHEME = "partbench-userstudy-code-v1"
CODE_LENGTH = 8  # hex digits: 32 bits, far beyond guessing, short enough to type


def completion_salt(identity: bytes) -> str:
    """The pack's salt, derived from what defines the pack (runs, items, seed) so that re-exporting with the same seed
    gives a byte-identical pack. It is not a secret (the page must carry it); it makes codes pack-specific."""
    return hashlib.sha256(b"partbench-userstudy-salt\n" + identity).hexdigest()[:16]


def completion_code(salt: str, pack_id: str, participant_id: str, answers: Iterable[tuple[str, str]]) -> str:
    """The code the page shows for these answers, in the order the page recorded them (item id, choice as written).

    One line per field joined with "\\n" and encoded as UTF-8: the page builds exactly this string with
    `TextEncoder`, so the two agree byte for byte (no JSON, whose spacing and escaping differ between languages)."""
    lines = [CODE_SCHEME, salt, pack_id, participant_id, *(f"{item_id}={choice}" for item_id, choice in answers)]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:CODE_LENGTH].upper()
