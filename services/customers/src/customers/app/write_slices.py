"""Slices of a bulk job's page, each written in a transaction of a bounded length.

On SQLite one transaction writes at a time: while a bulk job writes a page
of 10,000 customers (about a second) every other write waits. Written in
slices of about ``seconds`` (a few dozen milliseconds), the writers that
came meanwhile get their turn between two slices.

Small slices cost the job: each commit rewrites the pages its random
customers live on, so the same page is written many times. So a slice only
stays short while others want to write: a slice at whose end nobody waited
makes the next one twice as long, up to ``seconds * stretch``; one that
others waited for brings the length back to ``seconds``. How many customers
fit in a length is measured as the job goes, from the rate of the slices
before (their wait for the turn to write left out), between ``smallest``
and ``largest``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

_SMOOTHING = 0.5  # weight of the latest slice's rate


@dataclass(frozen=True)
class SliceWritten:
    """How long a slice's transaction wrote, and whether others waited for it."""

    seconds: float
    others_waited: bool


class SliceSizer:
    def __init__(
        self,
        seconds: float,
        *,
        stretch: int = 8,
        smallest: int = 100,
        largest: int = 10_000,
    ) -> None:
        """The first slice is ``smallest`` customers."""
        if seconds <= 0:
            raise ValueError("a slice needs a positive length")
        self._shortest = seconds
        self._longest = seconds * max(1, stretch)
        self._length = seconds
        self._smallest = min(smallest, largest)
        self._largest = largest
        self._rate: float | None = None  # customers per second

    @property
    def next_size(self) -> int:
        if self._rate is None:
            return self._smallest
        return max(self._smallest, min(self._largest, int(self._rate * self._length)))

    def took(self, count: int, written: SliceWritten) -> None:
        if written.others_waited:
            self._length = self._shortest
        else:
            self._length = min(self._longest, self._length * 2)
        if count <= 0 or written.seconds <= 0:
            return
        rate = count / written.seconds
        self._rate = (
            rate if self._rate is None else (_SMOOTHING * rate + (1 - _SMOOTHING) * self._rate)
        )


async def in_slices(
    ids: Sequence[str],
    sizer: SliceSizer | None,
    write: Callable[[Sequence[str]], Awaitable[SliceWritten]],
) -> None:
    """``write`` (one transaction each) over ``ids`` in order, slice by slice.

    Without a sizer, all of them at once."""
    if sizer is None:
        await write(ids)
        return
    at = 0
    while at < len(ids):
        part = ids[at : at + sizer.next_size]
        sizer.took(len(part), await write(part))
        at += len(part)
