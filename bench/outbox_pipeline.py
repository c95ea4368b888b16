"""Outbox -> JetStream -> idempotent consumer: latency and sustained throughput.

Real parts: a nats-server (JetStream, file storage) on a free loopback port,
a database (SQLite file by default, PostgreSQL with --pg URL), the project's
own OutboxRelay and EventConsumer. Producer, relay and consumer share one
process here (in the deployment they are two services), so figures are a
floor. The naive baseline publishes one event per round trip and consumes
one event per transaction, as a hand-rolled relay would.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from bench.stats import summary_ms
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.bus.connection import connect, ensure_streams
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.bus.relay import OutboxRelay, RelaySettings
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.messaging_tables import inbox_table, outbox_table
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from crosstalk_devstack.databases import fresh_postgres_database
from crosstalk_devstack.nats import start_nats
from crosstalk_devstack.ports import free_port


@dataclass(frozen=True)
class Mode:
    label: str
    relay_batch: int
    consumer_batch: int


PIPELINED = Mode("pipelined (batch 500 / fetch 200)", 500, 200)
NAIVE = Mode("naive (1 publish per ack, 1 txn per event)", 1, 1)


async def run_mode(
    mode: Mode, db_urls: tuple[str, str], nats_url: str, latency_n: int, throughput_n: int
) -> str:
    """Producer and consumer each have their own database, as two services do."""
    producer_md, consumer_md = MetaData(), MetaData()
    outbox = outbox_table(producer_md)
    inbox = inbox_table(consumer_md)
    effects = Table(
        "effects",
        consumer_md,
        Column("id", Integer, primary_key=True),
        Column("event_id", String(36)),
    )
    engine = create_engine(db_urls[0])
    consumer_engine = create_engine(db_urls[1])
    for eng, md in ((engine, producer_md), (consumer_engine, consumer_md)):
        async with eng.begin() as conn:
            await conn.run_sync(md.drop_all)
            await conn.run_sync(md.create_all)
    sessions = session_factory(engine)
    nc = await connect(nats_url, name=f"bench-{mode.relay_batch}")
    js = nc.jetstream()
    await ensure_streams(js, ["messaging"])
    await js.purge_stream("MESSAGING")
    relay = OutboxRelay(
        sessions, outbox, js, RelaySettings(batch_size=mode.relay_batch, poll_interval=0.2)
    )
    latencies: list[float] = []
    consumed = 0
    done = asyncio.Event()
    target = 0

    async def handler(session: AsyncSession, event: Event) -> None:
        nonlocal consumed
        await session.execute(insert(effects).values(event_id=event.event_id))
        committed = event.envelope.occurred_time.ToDatetime(tzinfo=UTC)
        latencies.append((utc_now() - committed).total_seconds())
        consumed += 1
        if consumed >= target:
            done.set()

    durable = f"bench-{mode.consumer_batch}-{int(time.time() * 1000)}"
    consumer = EventConsumer(
        js,
        session_factory(consumer_engine),
        inbox,
        Subscription(
            durable=durable,
            producer="messaging",
            event_types=["message.received"],
            batch_size=mode.consumer_batch,
            fetch_timeout=0.2,
        ),
        handler,
    )
    stop = asyncio.Event()
    workers = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]

    def new_uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, outbox, after_commit=relay.nudge)

    payload = messaging_events_pb2.MessageReceived(
        customer="customers/bench", text="where is my parcel?"
    )

    # 1. latency: one event per commit, paced well below capacity
    target = latency_n
    for _ in range(latency_n):
        async with new_uow() as uow:
            await uow.emit("bench", payload)
            await uow.commit()
        await asyncio.sleep(0.005)
    await asyncio.wait_for(done.wait(), 120)
    latency_line = summary_ms(f"commit -> consumed, {mode.label}", latencies, target="p50 <= 20 ms")

    # 2. throughput: producers commit 100 events per transaction as fast as they can
    latencies.clear()
    consumed = 0
    done.clear()
    target = throughput_n
    started = time.perf_counter()
    for _ in range(throughput_n // 100):
        async with new_uow() as uow:
            for _ in range(100):
                await uow.emit("bench", payload)
            await uow.commit()
    produced_at = time.perf_counter() - started
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*workers)
    await nc.drain()
    await engine.dispose()
    await consumer_engine.dispose()
    rate = throughput_n / elapsed
    return (
        f"{latency_line}\n"
        f"{'sustained end to end, ' + mode.label:<44} {throughput_n} events in {elapsed:6.2f} s = "
        f"{rate:8.0f} events/s (producer done after {produced_at:5.2f} s)"
        "  [target >= 2000 events/s]"
    )


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_nats(port, Path(tmp) / "nats", Path(tmp) / "nats.log")
        try:
            nats_url = f"nats://127.0.0.1:{port}"
            if args.pg:
                db_urls = (
                    fresh_postgres_database(args.pg, "crosstalk_bench_producer"),
                    fresh_postgres_database(args.pg, "crosstalk_bench_consumer"),
                )
            else:
                db_urls = (f"sqlite:///{tmp}/producer.db", f"sqlite:///{tmp}/consumer.db")
            backend = "PostgreSQL" if args.pg else "SQLite"
            print(
                f"outbox -> JetStream -> consumer on {backend}"
                " (nats-server 2.15, JetStream file store)"
            )
            for mode in (PIPELINED, NAIVE):
                n = args.n if mode is PIPELINED else max(args.n // 10, 500)
                print(await run_mode(mode, db_urls, nats_url, args.latency_n, n))
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20_000, help="events for the throughput run")
    parser.add_argument("--latency-n", type=int, default=1000)
    parser.add_argument("--pg", default="", help="PostgreSQL admin URL to bench on PostgreSQL too")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
