"""Reporting listens to every event of every producer and counts each one.

A fetched batch is counted at once (a batch handler): one owner lookup and
one write per count key for the batch, not a lookup and an upsert per event.
"""

from __future__ import annotations

from collections.abc import Sequence

from crosstalk_common.bus.catalogue import catalogue
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from reporting.adapters.mapping import observed_event
from reporting.app.counting import count_events
from reporting.app.ports import UnitOfWork

SOURCES = ("identity", "customers", "rules", "translation", "messaging")


def subscriptions() -> list[Subscription]:
    subs = []
    for producer in SOURCES:
        types = sorted(t.type for t in catalogue().values() if t.producer == producer)
        if types:
            subs.append(
                Subscription(durable=f"reporting-{producer}", producer=producer, event_types=types)
            )
    return subs


async def on_events(new_uow: UnitOfWorkFactory[UnitOfWork], events: Sequence[Event]) -> None:
    """Any events: counted, in the order they came."""
    await count_events(new_uow, [observed_event(e) for e in events])
