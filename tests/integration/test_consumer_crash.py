"""A consumer killed after committing its effect but before acking: redelivery changes nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from sqlalchemy import MetaData, func, select

from crosstalk.common.v1 import channel_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.bus.connection import connect, ensure_streams
from crosstalk_common.bus.relay import OutboxRelay
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import outbox_table
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from tests.integration.crashing_consumer import CRASH_EXIT, SUBSCRIPTION, effects

REPO = Path(__file__).resolve().parents[2]
EVENTS = 20


async def _publish_through_outbox(nats_url: str, db_url: str) -> None:
    metadata = MetaData()
    outbox = outbox_table(metadata)
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    for n in range(EVENTS):
        async with SqlUnitOfWork(sessions, outbox) as uow:
            await uow.emit(
                "tenant-crash",
                messaging_events_pb2.MessageReceived(
                    message=f"conversations/c/messages/{n}",
                    customer="customers/x",
                    sender=channel_pb2.ChannelIdentity(
                        channel=channel_pb2.CHANNEL_EMAIL, external_id="a@b.test"
                    ),
                    text=f"message {n}",
                ),
            )
            await uow.commit()
    nc = await connect(nats_url, name="publisher")
    js = nc.jetstream()
    await ensure_streams(js, ["messaging"])
    published, failed = await OutboxRelay(sessions, outbox, js).publish_pending()
    assert (published, failed) == (EVENTS, 0)
    await nc.drain()
    await engine.dispose()


async def _effects(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(effects))
        distinct = await conn.scalar(select(func.count(func.distinct(effects.c.event_id))))
    await engine.dispose()
    return int(total or 0), int(distinct or 0)


async def _consumer_state(nats_url: str) -> tuple[int, int]:
    """(messages awaiting ack, deliveries beyond the first of each message)."""
    nc = await connect(nats_url, name="inspector")
    info = await nc.jetstream().consumer_info("MESSAGING", SUBSCRIPTION.durable)
    await nc.close()
    delivered = info.delivered
    extra = (delivered.consumer_seq or 0) - (delivered.stream_seq or 0) if delivered else 0
    return info.num_ack_pending or 0, extra


def _run_consumer(nats_url: str, db_url: str, mode: str) -> int:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.crashing_consumer",
            nats_url,
            db_url,
            mode,
            str(EVENTS),
        ],
        cwd=REPO,
        timeout=60,
        check=False,
    ).returncode


def test_redelivery_after_a_crash_between_commit_and_ack(nats_url: str, db_url: str) -> None:
    asyncio.run(_publish_through_outbox(nats_url, db_url))

    assert _run_consumer(nats_url, db_url, "crash") == CRASH_EXIT
    applied_before, _ = asyncio.run(_effects(db_url))
    assert applied_before > 0, "the crashing consumer committed nothing"
    pending, _ = asyncio.run(_consumer_state(nats_url))
    assert pending >= applied_before, "the crashed consumer's messages should still be unacked"

    assert _run_consumer(nats_url, db_url, "recover") == 0
    total, distinct = asyncio.run(_effects(db_url))
    assert (total, distinct) == (EVENTS, EVENTS), "an effect was lost or applied twice"
    pending, redelivered = asyncio.run(_consumer_state(nats_url))
    assert pending == 0
    assert redelivered >= applied_before, "the crashed batch was never redelivered"
