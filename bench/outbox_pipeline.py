"""Outbox -> JetStream -> idempotent consumer: latency and sustained throughput.

Real parts: a nats-server (JetStream, file storage) on a free loopback port,
the project's own unit of work, OutboxRelay and EventConsumer, and two
databases (SQLite files by default, PostgreSQL with --pg), one per side.
As in the deployment, the producing service (commits + relay) and the
consuming service run in separate processes; this machine's two cores are
shared by both and by nats-server, so the figures are a floor.

The consumer's effect is one row per event. The kit's consumer writes the
rows of a batch's new events in one INSERT (a batch handler); the same kit
with a handler called per event shows what a statement per event costs. The
naive baseline is what a hand-rolled relay and consumer would do: one publish
awaited at a time, one transaction per consumed event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
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
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import inbox_table, outbox_table
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from crosstalk_devstack.databases import fresh_postgres_database
from crosstalk_devstack.nats import start_nats
from crosstalk_devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mode:
    label: str
    relay_batch: int
    consumer_batch: int
    batch_handler: bool


PIPELINED = Mode("kit, batch handler (relay batch 500, fetch 200)", 500, 200, True)
PER_EVENT = Mode("kit, handler per event (relay 500, fetch 200)", 500, 200, False)
NAIVE = Mode("naive (1 publish per ack, 1 txn per event)", 1, 1, False)


# -- the consuming service (a child process) --------------------------------------
async def consume(
    nats_url: str, db_url: str, durable: str, batch: int, expected: int, together: bool
) -> None:
    metadata = MetaData()
    inbox = inbox_table(metadata)
    effects = Table(
        "effects", metadata, Column("id", Integer, primary_key=True), Column("event_id", String(36))
    )
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    nc = await connect(nats_url, name=durable)
    latencies: list[float] = []
    done = asyncio.Event()
    last_at = 0.0

    def consumed(events: Sequence[Event]) -> None:
        nonlocal last_at
        last_at = time.time()
        for event in events:
            committed = event.envelope.occurred_time.ToDatetime(tzinfo=UTC).timestamp()
            latencies.append(last_at - committed)
        if len(latencies) >= expected:
            done.set()

    async def handler(session: AsyncSession, event: Event) -> None:
        await session.execute(insert(effects).values(event_id=event.event_id))
        consumed([event])

    async def batch_handler(session: AsyncSession, events: Sequence[Event]) -> None:
        await session.execute(insert(effects), [{"event_id": e.event_id} for e in events])
        consumed(events)

    subscription = Subscription(
        durable=durable,
        producer="messaging",
        event_types=["message.received"],
        batch_size=batch,
        fetch_timeout=0.2,
    )
    consumer = EventConsumer(
        nc.jetstream(),
        session_factory(engine),
        inbox,
        subscription,
        None if together else handler,
        batch_handler=batch_handler if together else None,
    )
    await consumer._bind()  # the durable exists before the producer starts
    print("ready", flush=True)
    stop = asyncio.Event()
    cpu = time.process_time()
    task = asyncio.create_task(consumer.run(stop))
    await asyncio.wait_for(done.wait(), 600)
    cpu = time.process_time() - cpu
    stop.set()
    await task
    await nc.close()
    await engine.dispose()
    print(json.dumps({"latencies": latencies, "last_at": last_at, "cpu": cpu}), flush=True)


# -- the producing service (this process) ----------------------------------------
class ConsumerProcess:
    def __init__(self, nats_url: str, db_url: str, durable: str, mode: Mode, expected: int) -> None:
        cmd = [sys.executable, "-m", "bench.outbox_pipeline", "--consume", nats_url, db_url,
               durable, str(mode.consumer_batch), str(expected),
               "batch" if mode.batch_handler else "each"]  # fmt: skip
        self._proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"consumer did not start: {line!r}")

    def result(self) -> tuple[list[float], float, float]:
        """Each event's commit -> consumed time, when the last was consumed, and
        the CPU seconds the consumer used meanwhile."""
        out, _ = self._proc.communicate(timeout=900)
        data = json.loads(out.strip().splitlines()[-1])
        return data["latencies"], data["last_at"], data["cpu"]


async def run_mode(
    mode: Mode, db_urls: tuple[str, str], nats_url: str, latency_n: int, throughput_n: int
) -> tuple[str, float]:
    """The mode's report lines and its sustained events/s."""
    metadata = MetaData()
    outbox = outbox_table(metadata)
    engine = create_engine(db_urls[0])
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    nc = await connect(nats_url, name=f"bench-producer-{mode.relay_batch}")
    js = nc.jetstream()
    await ensure_streams(js, ["messaging"])
    await js.purge_stream("MESSAGING")
    relay = OutboxRelay(
        sessions, outbox, js, RelaySettings(batch_size=mode.relay_batch, poll_interval=0.2)
    )
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    payload = messaging_events_pb2.MessageReceived(customer="customers/bench", text="parcel?")

    def new_uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, outbox, after_commit=relay.nudge)

    stamp = int(time.time() * 1000)

    # 1. latency: one event per commit, paced well below capacity
    durable = f"{mode.consumer_batch}-{int(mode.batch_handler)}-{stamp}"
    consumer = ConsumerProcess(nats_url, db_urls[1], f"lat-{durable}", mode, latency_n)
    for _ in range(latency_n):
        async with new_uow() as uow:
            await uow.emit("bench", payload)
            await uow.commit()
        await asyncio.sleep(0.005)
    latencies, _, _ = await asyncio.to_thread(consumer.result)
    latency_line = summary_ms(f"commit -> consumed, {mode.label}", latencies, target="p50 <= 20 ms")

    # 2. throughput: commits of 100 events each, as fast as the producer can
    await js.purge_stream("MESSAGING")
    consumer = ConsumerProcess(nats_url, db_urls[1], f"tput-{durable}", mode, throughput_n)
    started, cpu = time.time(), time.process_time()
    for _ in range(throughput_n // 100):
        async with new_uow() as uow:
            for _ in range(100):
                await uow.emit("bench", payload)
            await uow.commit()
    produced = time.time() - started
    _, last_at, consumer_cpu = await asyncio.to_thread(consumer.result)
    producer_cpu = time.process_time() - cpu
    elapsed = last_at - started
    stop.set()
    await relay_task
    await nc.close()
    await engine.dispose()
    rate = throughput_n / elapsed
    return (
        f"{latency_line}\n"
        f"{'sustained end to end, ' + mode.label:<44} {throughput_n} events in {elapsed:6.2f} s"
        f" = {rate:7.0f} events/s (commits done after {produced:5.2f} s)"
        "  [target >= 5000 events/s]\n"
        f"{'CPU per event, ' + mode.label:<44} producer (commits + relay)"
        f" {producer_cpu / throughput_n * 1e6:5.0f} us, consumer"
        f" {consumer_cpu / throughput_n * 1e6:5.0f} us (a busy machine shakes it less)"
    ), rate


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_nats(port, Path(tmp) / "nats", Path(tmp) / "nats.log")
        try:
            nats_url = f"nats://127.0.0.1:{port}"
            if args.pg:
                # CROSSTALK_TEST_PG_PREFIX keeps two runs on one cluster apart, as in the tests.
                prefix = os.environ.get("CROSSTALK_TEST_PG_PREFIX", "crosstalk")
                db_urls = (
                    fresh_postgres_database(args.pg, f"{prefix}_bench_producer"),
                    fresh_postgres_database(args.pg, f"{prefix}_bench_consumer"),
                )
            else:
                db_urls = (f"sqlite:///{tmp}/producer.db", f"sqlite:///{tmp}/consumer.db")
            backend = "PostgreSQL" if args.pg else "SQLite"
            print(f"outbox -> JetStream -> consumer on {backend} (nats-server 2.15, file store)")
            rates = {}
            for mode in (PIPELINED, PER_EVENT, NAIVE):
                n = args.n if mode is not NAIVE else max(args.n // 10, 500)
                lines, rates[mode] = await run_mode(mode, db_urls, nats_url, args.latency_n, n)
                print(lines, flush=True)
            for mode in (PIPELINED, PER_EVENT):
                print(
                    f"{mode.label}: {rates[mode] / rates[NAIVE]:4.1f} x the naive baseline"
                    "  [target >= 10 x]"
                )
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--consume":
        nats_url, db_url, durable, batch, expected, how = sys.argv[2:8]
        asyncio.run(consume(nats_url, db_url, durable, int(batch), int(expected), how == "batch"))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20_000, help="events for the throughput run")
    parser.add_argument("--latency-n", type=int, default=1000)
    parser.add_argument("--pg", default="", help="PostgreSQL admin URL: bench on PostgreSQL")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
