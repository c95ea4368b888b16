"""Reporting listens to every event of every producer and counts each one."""

from __future__ import annotations

from crosstalk_common.bus.catalogue import catalogue
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from reporting.adapters.mapping import observed_event
from reporting.app.counting import count_event
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


async def on_event(new_uow: UnitOfWorkFactory[UnitOfWork], event: Event) -> None:
    """Any event: counted."""
    await count_event(new_uow, observed_event(event))
