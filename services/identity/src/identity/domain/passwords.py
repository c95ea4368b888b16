"""What a new password must be (OWASP ASVS 4.0 V2.1; docs/security.md).

- At least ``MIN_PASSWORD_LENGTH`` (12) characters, or the tenant's own longer
  minimum, counted after runs of spaces are combined (ASVS 2.1.1); at most 256.
- Not only whitespace.
- Not one of the common passwords shipped in ``identity/data`` (compared in
  lower case), nor one character or a short chunk repeated, nor a straight
  run such as "abcdefghijkl" or "3210987654321".
- Not the member's email, and not containing it or its name part (the part
  before the "@", when that has at least 4 characters).

There are no composition rules (ASVS 2.1.9): any printable text, spaces and
emoji included, is fine once it passes these checks.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from importlib import resources

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
_SHORTEST_NAME_PART = 4
_LONGEST_REPEATED_CHUNK = 4
_SPACES = re.compile(r"\s+")


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("identity").joinpath("data/common_passwords.txt").read_text()
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _repeats_a_chunk(text: str) -> bool:
    """ "aaaaaaaaaaaa", "abcabcabcabc", "12121212121x" is not (it must repeat to the end)."""
    for size in range(1, _LONGEST_REPEATED_CHUNK + 1):
        if len(text) >= 2 * size and (text[:size] * len(text))[: len(text)] == text:
            return True
    return False


def _step(a: str, b: str) -> int | None:
    """+1 or -1 when ``b`` follows ``a`` in the digits (9 -> 0 too) or the alphabet."""
    if a.isdigit() and b.isdigit() and a.isascii() and b.isascii():
        return {1: 1, 9: -1}.get((int(b) - int(a)) % 10)
    if a.isalpha() and b.isalpha() and a.isascii() and b.isascii():
        return ord(b) - ord(a)
    return None


def _is_straight_run(text: str) -> bool:
    """Every character one up (or every one one down) from the one before: "123456789012"."""
    steps = {_step(a, b) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {-1})


def password_problem(
    password: str, min_length: int = MIN_PASSWORD_LENGTH, *, email: str = ""
) -> str | None:
    """Why ``password`` may not be set for the member with ``email``, or None."""
    minimum = max(min_length, MIN_PASSWORD_LENGTH)
    if not password.strip():
        return (
            "must not be empty or only spaces" if password else "must not be empty"
        ) + f"; use at least {minimum} characters"
    if len(_SPACES.sub(" ", password)) < minimum:
        return f"must have at least {minimum} characters (runs of spaces count as one)"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must have at most {MAX_PASSWORD_LENGTH} characters"
    folded = password.lower()
    if folded in common_passwords() or folded.strip() in common_passwords():
        return "is one of the most common passwords; choose one that is harder to guess"
    compact = _SPACES.sub("", folded)
    if _repeats_a_chunk(compact) or _is_straight_run(compact):
        return "is a repeated or straight sequence of characters; choose one harder to guess"
    address = email.strip().lower()
    if address:
        name_part = address.split("@", 1)[0]
        if address in folded or (len(name_part) >= _SHORTEST_NAME_PART and name_part in folded):
            return "must not contain your email address or the part of it before the '@'"
    return None
