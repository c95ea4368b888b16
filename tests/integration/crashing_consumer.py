"""A consumer process for the crash test: applies effects, and may die before acking.

    python -m tests.integration.crashing_consumer NATS_URL DB_URL crash|recover EXPECTED

In ``crash`` mode the process exits with status 17 right after the first
transaction commits, before any ack is sent: the effect is durable, the
acknowledgement never happens. In ``recover`` mode it consumes until the
redelivered events have been seen, then exits 0.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from crosstalk_common.bus.connection import connect
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import inbox_table

metadata = MetaData()
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
)
inbox = inbox_table(metadata)
CRASH_EXIT = 17
SUBSCRIPTION = Subscription(
    durable="crash-test",
    producer="messaging",
    event_types=["message.received"],
    ack_wait=1.0,
    batch_size=50,
)


async def main(nats_url: str, db_url: str, mode: str, expected: int) -> None:
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    nc = await connect(nats_url, name=f"crash-test-{mode}")
    seen: set[str] = set()

    async def apply(session: object, event: Event) -> None:
        await session.execute(insert(effects).values(event_id=event.event_id))  # type: ignore[attr-defined]

    def after_commit() -> None:
        if mode == "crash":
            os._exit(CRASH_EXIT)  # die between commit and ack

    consumer = EventConsumer(
        nc.jetstream(),
        session_factory(engine),
        inbox,
        SUBSCRIPTION,
        apply,
        after_commit=after_commit,
    )
    js = nc.jetstream()
    await consumer._bind()  # make sure the durable exists before fetching
    psub = await js.pull_subscribe_bind(durable=SUBSCRIPTION.durable, stream="MESSAGING")
    deadline = asyncio.get_running_loop().time() + 30
    while len(seen) < expected and asyncio.get_running_loop().time() < deadline:
        try:
            msgs = await psub.fetch(SUBSCRIPTION.batch_size, timeout=2)
        except TimeoutError:  # nats' TimeoutError subclasses it: nothing to fetch yet
            continue
        for msg in msgs:
            seen.add(msg.headers.get("Nats-Msg-Id", "") if msg.headers else "")
        await consumer.process(msgs)
    await nc.drain()
    await engine.dispose()
    if len(seen) < expected:
        sys.exit(3)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
