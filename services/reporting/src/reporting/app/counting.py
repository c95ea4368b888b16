"""Folding events into the counts."""

from __future__ import annotations

from collections.abc import Sequence

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from reporting.app.ports import UnitOfWork
from reporting.domain.counting import ObservedEvent, owners_to_look_up, tally


async def count_events(
    new_uow: UnitOfWorkFactory[UnitOfWork], events: Sequence[ObservedEvent]
) -> None:
    """+1 per event, in order, under the owner of its customer as known then;
    in one unit of work that reads the owners it needs at once and writes each
    count key and each new owner once.

    A customer an event creates is remembered with its owner first, so the
    event that creates it, and those after it, count under that owner.
    """
    async with new_uow() as uow:
        needed = owners_to_look_up(events)
        added = tally(events, await uow.owners.owners_of(needed) if needed else {})
        if added.new_owners:
            await uow.owners.remember(added.new_owners)
        await uow.counts.add(added.counts)
        await uow.commit()
