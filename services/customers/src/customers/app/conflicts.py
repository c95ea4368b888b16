"""A write that lost a race with another writer of the same customer tries again.

Single-customer use cases read the customer, then save it only if its version
is still the one they read (``save(..., expected_version=...)``). A bulk job or
another caller writing the same customer in between makes that save match no
row. The caller did not do anything wrong (an etag it sent is checked again on
the fresh read), so the use case runs again on the new version, a few times,
before it answers ABORTED.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from crosstalk_common.errors import Aborted

ATTEMPTS = 4

P = ParamSpec("P")
T = TypeVar("T")


class ChangedMeanwhile(Aborted):
    """The customer's version moved between this use case's read and its write."""

    def __init__(self) -> None:
        super().__init__("customer changed while it was being updated; read it again")


def retried_when_changed_meanwhile(
    use_case: Callable[P, Awaitable[T]],
) -> Callable[P, Awaitable[T]]:
    """Run ``use_case`` again (in a new unit of work) when it raises ChangedMeanwhile."""

    @functools.wraps(use_case)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        for _ in range(ATTEMPTS - 1):
            try:
                return await use_case(*args, **kwargs)
            except ChangedMeanwhile:
                continue
        return await use_case(*args, **kwargs)

    return run
