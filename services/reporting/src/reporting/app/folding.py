"""Folding events into the measures, and rebuilding them from the stream."""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from reporting.app.ports import UnitOfWork
from reporting.domain.folding import fold, keys_needed
from reporting.domain.observed import ObservedEvent
from reporting.domain.querying import zone_shifts


async def fold_events(
    new_uow: UnitOfWorkFactory[UnitOfWork], events: Sequence[ObservedEvent]
) -> None:
    """Folds a batch in order, in one unit of work: one read of the projection
    rows it needs, one write per measure row and projection row it touches."""
    async with new_uow() as uow:
        await _fold_in(uow, events)
        await uow.commit()


async def _fold_in(uow: UnitOfWork, events: Sequence[ObservedEvent]) -> None:
    if not events:
        return
    projections = await uow.projections.load(keys_needed(events))
    observations = fold(events, projections)
    await uow.measures.add(observations)
    await uow.projections.save(projections)


async def rebuild(
    new_uow: UnitOfWorkFactory[UnitOfWork], batches: AsyncIterable[Sequence[ObservedEvent]]
) -> int:
    """Forgets every measure and projection and folds the stream again from its
    start, all in one transaction (readers see the old numbers until it commits).
    Returns the number of events folded."""
    folded = 0
    async with new_uow() as uow:
        await uow.measures.clear()
        async for batch in batches:
            await _fold_in(uow, batch)
            folded += len(batch)
        await uow.commit()
    return folded


async def keep_days_for(new_uow: UnitOfWorkFactory[UnitOfWork], zones: Sequence[str]) -> None:
    """Day rows for the local days of ``zones`` (and only those): run at start,
    before the consumers fold."""
    async with new_uow() as uow:
        await uow.measures.keep_day_shifts(zone_shifts(zones))
        await uow.commit()
