"""What every use case sees of a unit of work, whatever the storage behind it.

A service's own ``UnitOfWork`` protocol extends ``Transaction`` with its
repositories and, when the service publishes events, an ``emit(tenant_id,
event)`` of its domain events (``domain/events.py``; its SQL unit of work turns
each into the contract's proto with ``adapters/mapping.py``). Use cases take a
``UnitOfWorkFactory`` of it and open one unit a transaction:
``async with self.new_uow() as uow: ...; await uow.commit()``. Nothing here
imports a storage library or a proto, so app layers may depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, TypeVar

U = TypeVar("U")

# Opens a new unit of work (of a service's UnitOfWork protocol) each call.
UnitOfWorkFactory = Callable[[], U]


class Transaction(Protocol):
    """One transaction: what is not committed when the block ends is rolled back."""

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class Snapshot(Protocol):
    """A unit of work whose reads can be made to agree: after
    ``read_one_snapshot()``, called before its first statement, every read sees
    the data as of the first (a result put together from several reads)."""

    async def read_one_snapshot(self) -> None: ...
