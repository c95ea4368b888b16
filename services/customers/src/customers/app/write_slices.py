"""Slices of a bulk job's page, each written in a transaction of about a set length.

On SQLite one transaction writes at a time: while a bulk job writes a page
of 10,000 customers (about a second) every other write waits. Written in
slices that each take ``seconds`` (a few dozen milliseconds), the other
writers get their turn between two slices. How many customers fit is
measured as the job goes: each slice is sized from the rate of the ones
before it, between ``smallest`` and ``largest``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

_SMOOTHING = 0.5  # weight of the latest slice's rate


class SliceSizer:
    def __init__(self, seconds: float, *, smallest: int = 100, largest: int = 10_000) -> None:
        """The first slice is ``smallest``; the next ones as many as the rate
        measured so far lets write in ``seconds``."""
        if seconds <= 0:
            raise ValueError("a slice needs a positive length")
        self._seconds = seconds
        self._smallest = min(smallest, largest)
        self._largest = largest
        self._rate: float | None = None  # customers per second

    @property
    def next_size(self) -> int:
        if self._rate is None:
            return self._smallest
        return max(self._smallest, min(self._largest, int(self._rate * self._seconds)))

    def took(self, count: int, seconds: float) -> None:
        if count <= 0 or seconds <= 0:
            return
        rate = count / seconds
        self._rate = (
            rate if self._rate is None else (_SMOOTHING * rate + (1 - _SMOOTHING) * self._rate)
        )


async def in_slices(
    ids: Sequence[str],
    sizer: SliceSizer | None,
    write: Callable[[Sequence[str]], Awaitable[float]],
) -> None:
    """``write`` (one transaction each) over ``ids`` in order, slice by slice.

    ``write`` returns how long its transaction wrote (its wait for the turn
    to write left out). Without a sizer, all of them at once."""
    if sizer is None:
        await write(ids)
        return
    at = 0
    while at < len(ids):
        part = ids[at : at + sizer.next_size]
        sizer.took(len(part), await write(part))
        at += len(part)
