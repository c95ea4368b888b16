"""Folding one event into the counts."""

from __future__ import annotations

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from reporting.app.ports import UnitOfWork
from reporting.domain.counting import NOBODY, ObservedEvent, count_key


async def count_event(new_uow: UnitOfWorkFactory[UnitOfWork], event: ObservedEvent) -> None:
    """+1 for the event, under the owner of its customer as known now.

    A customer the event creates is remembered with its owner first, so the
    event that creates it counts under that owner too.
    """
    async with new_uow() as uow:
        owner = NOBODY
        if event.customer and event.new_owner is not None:
            await uow.owners.remember(event.tenant_id, event.customer, event.new_owner)
            owner = event.new_owner
        elif event.customer:
            owner = await uow.owners.owner_of(event.tenant_id, event.customer)
        await uow.counts.add_one(count_key(event, owner))
        await uow.commit()
