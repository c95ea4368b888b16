"""What every use case sees of a unit of work, whatever the storage behind it.

A service's own ``UnitOfWork`` protocol extends ``UnitOfWork`` (or, when it
stages its events some other way, ``Transaction``) with its repositories; use
cases take a ``UnitOfWorkFactory`` of it and open one unit a transaction:
``async with self.new_uow() as uow: ...; await uow.commit()``. Nothing here
imports a storage library, so app layers may depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, TypeVar

from google.protobuf.message import Message

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


class UnitOfWork(Transaction, Protocol):
    """A transaction whose state changes and the events they cause commit together."""

    async def emit(self, tenant_id: str, payload: Message) -> str:
        """Stage an event for the outbox; written by ``commit`` in the same transaction."""
        ...
