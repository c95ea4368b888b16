"""Tests: count the calls sent to aiosqlite connections' threads (trips)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    import pytest


def count_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of every function sent to a connection's thread."""
    trips: list[str] = []
    real: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", ""))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return trips
