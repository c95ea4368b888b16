"""Reporting listens to every event of every producer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.bus.catalogue import catalogue
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from reporting.adapters.read_models import count_event

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


async def fold_event(session: AsyncSession, event: Event) -> None:
    await count_event(session, event)
