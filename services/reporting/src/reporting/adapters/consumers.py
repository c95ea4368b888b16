"""Reporting listens to every event of every producer and folds each one.

A fetched batch is folded at once (a batch handler): one read of the
projection rows it needs and one write per row it touches, not a round of
reads and upserts per event. After a batch that was not full, a consumer waits
LINGER before fetching again: at the main job's rates a fetch otherwise found a
few events each time, and a transaction's fixed cost was most of what reporting
spent per message. A number is visible that much later (the target is 2 s).
"""

from __future__ import annotations

from collections.abc import Sequence

from crosstalk_common.bus.catalogue import catalogue
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from reporting.adapters.mapping import observed_events
from reporting.app.folding import fold_events
from reporting.app.ports import UnitOfWork

SOURCES = ("identity", "customers", "rules", "translation", "messaging")
LINGER = 0.25  # seconds


def subscriptions() -> list[Subscription]:
    subs = []
    for producer in SOURCES:
        types = sorted(t.type for t in catalogue().values() if t.producer == producer)
        if types:
            subs.append(
                Subscription(
                    durable=f"reporting-{producer}",
                    producer=producer,
                    event_types=types,
                    linger=LINGER,
                )
            )
    return subs


async def on_events(new_uow: UnitOfWorkFactory[UnitOfWork], events: Sequence[Event]) -> None:
    """Any events: folded, in the order they came."""
    await fold_events(new_uow, [o for e in events for o in observed_events(e)])
