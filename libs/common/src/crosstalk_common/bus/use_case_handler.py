"""Run an event's use case in a unit of work joined to the consumer's transaction.

``EventConsumer`` applies a batch in one transaction that also records each
event in the inbox. A service's ``adapters/consumers.py`` only says which use
case an event goes to: a function of a unit-of-work factory and the event.
``in_unit_of_work`` binds that factory to the consumer's transaction, so the
use case's rows and the events it emits commit with the inbox entry or not at
all, and the consumer module never sees a database session.
``batch_in_unit_of_work`` does the same for a use case that takes all the new
events of a fetched batch at once (the consumer's batch handler), and
``scoped_batch_in_unit_of_work`` for one that also enters each event's scope
(the consumer's scoped batch handler).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.bus.consumer import BatchHandler, Handler, ScopedBatchHandler, Within
from crosstalk_common.bus.envelope import Event
from crosstalk_common.db.unit_of_work import SqlUnitOfWork

W = TypeVar("W", bound=SqlUnitOfWork)


def in_unit_of_work(
    unit_of_work: type[W],
    outbox: Table,
    handle: Callable[[Callable[[], W], Event], Awaitable[None]],
) -> Handler:
    """A consumer handler calling ``handle(new_uow, event)``; each unit of work
    ``new_uow()`` makes joins the consumer's transaction (see ``SqlUnitOfWork.joining``)."""

    async def handler(session: AsyncSession, event: Event) -> None:
        await handle(lambda: unit_of_work.joining(session, outbox), event)

    return handler


def batch_in_unit_of_work(
    unit_of_work: type[W],
    outbox: Table,
    handle: Callable[[Callable[[], W], Sequence[Event]], Awaitable[None]],
) -> BatchHandler:
    """A consumer batch handler calling ``handle(new_uow, events)`` once for the
    batch's new events; its units of work join the consumer's transaction too."""

    async def handler(session: AsyncSession, events: Sequence[Event]) -> None:
        await handle(lambda: unit_of_work.joining(session, outbox), events)

    return handler


def scoped_batch_in_unit_of_work(
    unit_of_work: type[W],
    outbox: Table,
    handle: Callable[[Callable[[], W], Sequence[Event], Within], Awaitable[None]],
    *,
    savepoint: bool = True,
) -> ScopedBatchHandler:
    """A consumer scoped batch handler calling ``handle(new_uow, events, within)``
    once for all the batch's new events; its units of work join the consumer's
    transaction too (``savepoint=False``: without a savepoint each, for a
    ``handle`` that lets every failure propagate; see ``SqlUnitOfWork``)."""

    async def handler(session: AsyncSession, events: Sequence[Event], within: Within) -> None:
        await handle(
            lambda: unit_of_work.joining(session, outbox, savepoint=savepoint), events, within
        )

    return handler
