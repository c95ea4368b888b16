"""Reporting: folding throughput, event-to-visible latency, and 90-day queries.

1. **Fold.** Synthetic conversations (messages in and out, status changes,
   CSAT) over 90 days, folded through reporting's own use case, SQL store and
   projections, in batches of 500 as the consumer hands them over. Prints
   events/s of the fold (reporting's work; making the events is timed apart)
   and what 10,000,000 events take at that rate (``--events 10000000`` folds
   them all).
2. **Query.** Over what was folded: 90 days of a count and of a
   distribution (average, p50, p90) by day in a time zone, grouped by one
   dimension, against the naive query over the raw observations (one row
   per event) in the same run. On PostgreSQL the tables are analyzed first,
   as autovacuum would after such a load.
3. **Event to visible** (``--latency``): as deployed, the producer and
   reporting are separate processes. A child process plays messaging: at a
   fixed rate (2,000/s by default), open-loop (event i is due at t0 + i/rate
   whatever became of the ones before), every 10 ms it stages the events due
   in one unit of work with its outbox (``SqlUnitOfWork.emit``) and commits;
   the kit's ``OutboxRelay`` publishes them to JetStream (a real nats-server).
   This process runs reporting's consumer as ``bootstrap`` wires it (the kit's
   ``EventConsumer``, reporting's batch handler) and queries every 20 ms.
   Each event's latency runs from when it was due until a query counts it.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stats import percentile, summary_ms
from crosstalk.common.v1 import channel_pb2
from crosstalk.events.v1 import messaging_events_pb2 as me
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import outbox_table
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import DEFAULT_PG_URL, fresh_postgres_database
from reporting.adapters.mapping import observed_event
from reporting.adapters.tables import measure_facts, outbox
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.folding import fold_events, keep_days_for
from reporting.app.metrics import ReportingService
from reporting.bootstrap import MIGRATIONS
from reporting.domain.catalogue import Dimension
from reporting.domain.querying import MetricQuery

ROOT = Path(__file__).resolve().parents[1]
EVERYTHING = Visibility(DataScope.ALL)
CHANNELS = (
    channel_pb2.CHANNEL_EMAIL,
    channel_pb2.CHANNEL_WHATSAPP,
    channel_pb2.CHANNEL_AMAZON,
    channel_pb2.CHANNEL_WEB_CHAT,
)
LANGUAGES = ("en", "es", "de", "vi", "zh")
END = datetime(2026, 12, 1, tzinfo=UTC)
START = END - timedelta(days=90)


def conversation_events(
    tenant: str, rng: random.Random, n: int, start: datetime | None = None
) -> list[tuple[datetime, Event]]:
    """One conversation (at ``start``, or at random in the 90 days): opened, n
    customer messages each answered by an agent or a rule after a random wait,
    then closed; about 2n + 3 events, each with its time."""

    def ev(payload: Any, at: datetime) -> tuple[datetime, Event]:
        _, envelope = new_envelope(tenant, payload, occurred_at=at, trace_context={})
        return at, Event(envelope, payload)

    conv = f"conversations/{uuid.uuid4()}"
    customer = f"customers/{rng.randrange(5000)}"
    channel = rng.choice(CHANNELS)
    language = rng.choice(LANGUAGES)
    identity = channel_pb2.ChannelIdentity(channel=channel, external_id=customer)
    at = start or START + timedelta(
        seconds=rng.randrange(int((END - START).total_seconds()) - 86400)
    )
    out = [
        ev(
            me.ConversationCreated(
                conversation=conv,
                customer=customer,
                channel=channel,
                identity=identity,
                language=language,
            ),
            at,
        ),
    ]
    for i in range(n):
        out.append(
            ev(
                me.MessageReceived(
                    message=f"{conv}/messages/{i}a",
                    conversation=conv,
                    customer=customer,
                    sender=identity,
                    language=language,
                ),
                at,
            )
        )
        at += timedelta(seconds=rng.expovariate(1 / 600))
        sender = f"members/agent-{rng.randrange(20)}" if rng.random() < 0.7 else "rules/r1"
        out.append(
            ev(
                me.MessageSent(
                    message=f"{conv}/messages/{i}b",
                    conversation=conv,
                    customer=customer,
                    sent_by=sender,
                    language=language,
                ),
                at,
            )
        )
        at += timedelta(seconds=rng.expovariate(1 / 3600))
    out.append(
        ev(
            me.ConversationStatusChanged(
                conversation=conv,
                customer=customer,
                from_status=resources_pb2.CONVERSATION_STATUS_REPLIED,
                to_status=resources_pb2.CONVERSATION_STATUS_CLOSED,
            ),
            at,
        )
    )
    out.append(
        ev(
            me.CsatSubmitted(
                csat_survey=f"csatSurveys/{uuid.uuid4()}",
                conversation=conv,
                customer=customer,
                score=rng.randint(1, 5),
            ),
            at,
        )
    )
    return out


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f} ({os.cpu_count()} cores)"


def event_stream(tenant: str, total: int, shuffled: bool) -> Iterator[Event]:
    """Conversations' events as a stream (or a rebuild) delivers them: in time
    order, the conversations starting evenly over the 90 days (about 8 events
    each, so ``total`` events fill them) and their events merged by time.
    ``shuffled``: each conversation's events together at a random time of the
    90 days instead, so each batch touches ~500 different hours (a worst case
    no stream produces)."""
    rng = random.Random(7)
    if shuffled:
        while True:
            for _, event in conversation_events(tenant, rng, rng.randint(1, 4)):
                yield event
    step = (END - START - timedelta(days=1)) / max(1, total // 8)
    due: list[tuple[datetime, int, Event]] = []
    made = 0
    for k in itertools.count():
        start = START + step * k
        while due and due[0][0] < start:
            yield heapq.heappop(due)[2]
        for at, event in conversation_events(tenant, rng, rng.randint(1, 4), start):
            heapq.heappush(due, (at, made, event))
            made += 1


async def fold_phase(
    new_uow: Callable[[], ReportingUnitOfWork], tenant: str, total: int, shuffled: bool
) -> tuple[float, float]:
    """Events/s of the fold alone, and with the events' making; prints the
    fold's CPU per event (this process's threads, SQLite's included)."""
    stream = event_stream(tenant, total, shuffled)
    folded = 0
    started = time.perf_counter()
    folding = cpu = 0.0
    while folded < total:
        batch = list(itertools.islice(stream, min(500, total - folded)))
        t0, c0 = time.perf_counter(), time.process_time()
        await fold_events(new_uow, [observed_event(e) for e in batch])
        folding += time.perf_counter() - t0
        cpu += time.process_time() - c0
        folded += len(batch)
        if folded % 1_000_000 == 0:
            print(f"  {folded:,} events folded, {folded / folding:,.0f}/s, {load()}", flush=True)
    print(f"  fold CPU {cpu / folded * 1e6:.0f} us per event")
    return folded / folding, folded / (time.perf_counter() - started)


async def query_phase(new_uow: Callable[[], ReportingUnitOfWork], tenant: str, runs: int) -> None:
    service = ReportingService(new_uow)
    for metric in ("messages_received", "first_response_time"):
        query = MetricQuery(
            metric, START, END, time_zone="Asia/Shanghai", group_bys=(Dimension.CHANNEL,)
        )
        await service.query(tenant, EVERYTHING, query)  # warm
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            answer = await service.query(tenant, EVERYTHING, query)
            samples.append(time.perf_counter() - t0)
        print(
            summary_ms(
                f"90-day {metric} by channel (stored rows)", samples, target="p95 <= 100 ms"
            ),
            f" points={len(answer.current.points)}",
        )
        naive = []
        measure = "messages_in" if metric == "messages_received" else "first_response_seconds"
        for _ in range(max(3, runs // 5)):
            t0 = time.perf_counter()
            async with new_uow() as uow:
                rows = await uow.session.execute(
                    select(
                        measure_facts.c.channel, measure_facts.c.at, measure_facts.c.value
                    ).where(
                        measure_facts.c.tenant_id == tenant,
                        measure_facts.c.measure == measure,
                        measure_facts.c.at >= START,
                        measure_facts.c.at < END,
                    )
                )
                days: dict[tuple[str, str], list[float]] = {}
                for channel, at, value in rows:
                    local = (at.replace(tzinfo=UTC) + timedelta(hours=8)).date().isoformat()
                    days.setdefault((local, channel), []).append(value)
                for values in days.values():
                    sorted(values)[len(values) // 2]  # the p50 a naive report computes
            naive.append(time.perf_counter() - t0)
        print(summary_ms(f"  naive: same over raw events ({measure})", naive))


def message_received(i: int) -> me.MessageReceived:
    conversation = f"conversations/c{i % 500}"
    return me.MessageReceived(
        message=f"{conversation}/messages/{i}",
        conversation=conversation,
        customer=f"customers/{i % 1000}",
        language="en",
        sender=channel_pb2.ChannelIdentity(channel=channel_pb2.CHANNEL_EMAIL),
    )


async def produce(
    nats_url: str, db_url: str, tenant: str, rate: int, seconds: int, tick: float
) -> None:
    """The producing service (a child process): at a fixed rate, open-loop,
    every ``tick`` the events due are staged and committed with the outbox;
    the kit's relay publishes them. Prints when each was committed."""
    from crosstalk_common.bus.connection import connect, ensure_streams
    from crosstalk_common.bus.relay import OutboxRelay
    from crosstalk_common.db.unit_of_work import SqlUnitOfWork

    metadata = MetaData()
    producer_outbox = outbox_table(metadata)
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    nc = await connect(nats_url, name="bench-messaging")
    js = nc.jetstream()
    await ensure_streams(js, ["messaging"])
    relay = OutboxRelay(sessions, producer_outbox, js)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    print("ready", flush=True)
    sys.stdin.readline()  # the consumer's side is listening
    total = rate * seconds
    committed: list[float] = []
    cpu = time.process_time()
    t0 = time.time()
    i = 0
    while i < total:
        due = min(total, int((time.time() - t0) * rate) + 1)
        async with SqlUnitOfWork(sessions, producer_outbox, after_commit=relay.nudge) as uow:
            for n in range(i, due):
                await uow.emit(tenant, message_received(n))
            await uow.commit()
        committed += [time.time()] * (due - i)
        i = due
        if i < total:
            await asyncio.sleep(max(0.0, min(tick, t0 + i / rate - time.time())))
    while True:  # until the relay published them all
        if not await relay.pending_count():
            break
        await asyncio.sleep(0.01)
    published = time.time()
    cpu = time.process_time() - cpu
    stop.set()
    await relay_task
    await nc.close()
    await engine.dispose()
    print(json.dumps({"t0": t0, "committed": committed, "published": published, "cpu": cpu}))


def start_producer(
    nats_url: str, db_url: str, tenant: str, rate: int, seconds: int
) -> subprocess.Popen[str]:
    """The producer process, ready (its relay connected), waiting for a line."""
    cmd = [sys.executable, "-m", "bench.reporting_bench", "--produce", nats_url, db_url,
           tenant, str(rate), str(seconds)]  # fmt: skip
    producer = subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert producer.stdout is not None
    if producer.stdout.readline().strip() != "ready":
        raise RuntimeError("the producer did not start")
    return producer


async def latency_phase(database_url: str, producer_url: str, rate: int, seconds: int) -> None:
    from crosstalk_common.bus.connection import connect, ensure_streams
    from crosstalk_common.bus.consumer import EventConsumer
    from crosstalk_common.bus.use_case_handler import batch_in_unit_of_work
    from crosstalk_devstack.nats import start_nats
    from crosstalk_devstack.ports import free_port
    from reporting.adapters.consumers import on_events, subscriptions
    from reporting.adapters.tables import inbox

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="reporting-bench-"))
    nats = start_nats(port, tmp / "js", tmp / "nats.log")
    nats_url = f"nats://127.0.0.1:{port}"
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    tenant = f"latency-{uuid.uuid4().hex[:8]}"
    total = rate * seconds
    try:
        nc = await connect(nats_url, name="reporting-bench")
        js = nc.jetstream()
        await ensure_streams(js, ["messaging"])
        subscription = next(s for s in subscriptions() if s.producer == "messaging")
        consumer = EventConsumer(
            js,
            sessions,
            inbox,
            subscription,
            None,
            batch_handler=batch_in_unit_of_work(ReportingUnitOfWork, outbox, on_events),
        )
        stop = asyncio.Event()
        service = ReportingService(lambda: ReportingUnitOfWork(sessions, outbox))
        now = datetime.now(UTC)
        query = MetricQuery("messages_received", now - timedelta(hours=1), now + timedelta(hours=2))
        seen: list[tuple[float, int]] = []  # (when, how many a query counted)

        async def poll() -> None:
            while not seen or seen[-1][1] < total:
                answer = await service.query(tenant, EVERYTHING, query)
                seen.append((time.time(), int(answer.current.summary.count)))
                await asyncio.sleep(0.02)

        producer = start_producer(nats_url, producer_url, tenant, rate, seconds)
        assert producer.stdin is not None
        task = asyncio.create_task(consumer.run(stop))
        poller = asyncio.create_task(poll())
        cpu = time.process_time()
        producer.stdin.write("go\n")
        producer.stdin.flush()
        out, _ = await asyncio.to_thread(producer.communicate, timeout=seconds + 600)
        produced = json.loads(out.strip().splitlines()[-1])
        await asyncio.wait_for(poller, timeout=600)
        cpu = time.process_time() - cpu
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await nc.close()
    finally:
        await engine.dispose()
        nats.terminate()
        nats.wait(10)
    t0 = produced["t0"]
    committed = produced["committed"]
    # Event i is visible from the first query that counted more than i.
    latencies, at = [], 0
    for i in range(total):
        while seen[at][1] <= i:
            at += 1
        latencies.append(seen[at][0] - (t0 + i / rate))
    last = seen[at][0]
    lag = [c - (t0 + i / rate) for i, c in enumerate(committed)]
    print(
        f"producer: {total:,} events due at {rate:,}/s, committed at "
        f"{total / (committed[-1] - t0):,.0f}/s (commit lag p95 "
        f"{percentile(lag, 95) * 1000:.0f} ms), all published (JetStream acks) "
        f"{produced['published'] - t0:.1f} s after the start; producer CPU "
        f"{produced['cpu'] / total * 1e6:.0f} us/event"
    )
    print(
        f"reporting: {total / (last - t0):,.0f} events/s visible sustained, the last "
        f"{last - t0:.1f} s after the start; consumer + queries CPU "
        f"{cpu / total * 1e6:.0f} us/event"
    )
    print(summary_ms("event due -> visible in a query", latencies, target="p95 <= 2 s"))
    after_commit = [v - lag[i] for i, v in enumerate(latencies)]
    print(summary_ms("  of which producer commit -> visible", after_commit))


def units_of_work(url: str) -> tuple[AsyncEngine, Callable[[], ReportingUnitOfWork]]:
    """An engine on ``url`` and reporting's unit of work over it."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    return engine, lambda: ReportingUnitOfWork(sessions, outbox)


async def query_only(url: str, runs: int) -> None:
    """The query phase alone, over what an earlier run folded."""
    engine, new_uow = units_of_work(url)
    async with new_uow() as uow:
        facts = await uow.session.scalar(select(func.count()).select_from(measure_facts))
    print(f"[{engine.dialect.name}] {facts:,} observations folded earlier; {load()}")
    await query_phase(new_uow, "bench-tenant", runs)
    print(f"[{engine.dialect.name}] {load()}")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--shuffled",
        action="store_true",
        help="fold each conversation at a random time (batches touch ~500 hours each)",
    )
    parser.add_argument(
        "--day-zones",
        default="Asia/Shanghai",
        help="REPORTING_DAY_ZONES: zones whose local days are kept as day rows "
        "(the queries' zone by default; '' for hour rows only)",
    )
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument(
        "--query-only",
        metavar="DATABASE_URL",
        help="only the queries, over a database an earlier run folded into (runs keep "
        "theirs: the SQLite file under /tmp/reporting-bench-*, the PostgreSQL database "
        "<prefix>_reporting_bench)",
    )
    args = parser.parse_args()
    if args.query_only:
        await query_only(args.query_only, args.runs)
        return
    tmp = tempfile.mkdtemp(prefix="reporting-bench-")
    if args.db == "postgres":
        # CROSSTALK_TEST_PG_PREFIX keeps two runs on one cluster apart, as in the tests.
        prefix = os.environ.get("CROSSTALK_TEST_PG_PREFIX", "crosstalk")
        url = fresh_postgres_database(DEFAULT_PG_URL, f"{prefix}_reporting_bench")
        producer_url = fresh_postgres_database(DEFAULT_PG_URL, f"{prefix}_reporting_bench_producer")
    else:
        url = f"sqlite:///{tmp}/reporting.db"
        producer_url = f"sqlite:///{tmp}/producer.db"
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, url)
    engine, new_uow = units_of_work(url)
    tenant = "bench-tenant"
    zones = [z.strip() for z in args.day_zones.split(",") if z.strip()]
    await keep_days_for(new_uow, zones)
    print(f"[{args.db}] day rows for {', '.join(zones) or 'no zone'}; {load()}")
    if args.events:
        rate, overall = await fold_phase(new_uow, tenant, args.events, args.shuffled)
        async with new_uow() as uow:
            facts = await uow.session.scalar(select(func.count()).select_from(measure_facts))
            if args.db == "postgres":
                await uow.session.execute(text("ANALYZE"))
                await uow.commit()
        order = "conversations at random times" if args.shuffled else "in time order"
        print(
            f"[{args.db}] folded {args.events:,} events ({order}) at {rate:,.0f} events/s "
            f"({overall:,.0f}/s with making them; {facts:,} observations); "
            f"10,000,000 events at this rate: {10_000_000 / rate / 60:,.1f} min; {load()}"
        )
        await query_phase(new_uow, tenant, args.runs)
        print(f"[{args.db}] {load()}")
    await engine.dispose()
    if args.latency:
        await latency_phase(url, producer_url, args.rate, args.seconds)
        print(f"[{args.db}] {load()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--produce":
        nats_url, db_url, tenant, rate, seconds = sys.argv[2:7]
        asyncio.run(produce(nats_url, db_url, tenant, int(rate), int(seconds), 0.01))
        sys.exit(0)
    sys.exit(asyncio.run(main()))
