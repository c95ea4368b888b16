"""Reporting: folding throughput, event-to-visible latency, and 90-day queries.

1. **Fold.** Synthetic conversations (messages in and out, status changes,
   CSAT, orders) over 90 days, folded through reporting's own use case,
   SQL store and projections, in batches as the consumer hands them over.
   Prints events/s and what 10,000,000 events take at that rate (pass
   ``--events 10000000`` to fold them all).
2. **Query.** Over what was folded: 90 days of a count and of a
   distribution (average, p50, p90) by day in a time zone, grouped by one
   dimension, against the naive query over the raw observations (one row
   per event) in the same run.
3. **Event to visible** (``--latency``): a real nats-server, the kit's
   EventConsumer with reporting's batch handler, events published to
   JetStream at a fixed rate (2,000/s by default); each event's time from
   publish until a query counts it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.stats import summary_ms
from crosstalk.common.v1 import channel_pb2
from crosstalk.events.v1 import messaging_events_pb2 as me
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import DEFAULT_PG_URL, fresh_postgres_database
from reporting.adapters.mapping import observed_event
from reporting.adapters.tables import measure_facts, outbox
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.folding import fold_events
from reporting.app.metrics import ReportingService
from reporting.bootstrap import MIGRATIONS
from reporting.domain.catalogue import Dimension
from reporting.domain.querying import MetricQuery

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


def conversation_events(tenant: str, rng: random.Random, n: int) -> list[Event]:
    """One conversation: opened, n customer messages each answered by an agent or
    a rule after a random wait, then closed; about 2n + 3 events."""

    def ev(payload: Any, at: datetime) -> Event:
        _, envelope = new_envelope(tenant, payload, occurred_at=at, trace_context={})
        return Event(envelope, payload)

    conv = f"conversations/{uuid.uuid4()}"
    customer = f"customers/{rng.randrange(5000)}"
    channel = rng.choice(CHANNELS)
    language = rng.choice(LANGUAGES)
    identity = channel_pb2.ChannelIdentity(channel=channel, external_id=customer)
    at = START + timedelta(seconds=rng.randrange(int((END - START).total_seconds()) - 86400))
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


async def fold_phase(new_uow: Callable[[], ReportingUnitOfWork], tenant: str, total: int) -> float:
    rng = random.Random(7)
    folded = 0
    started = time.perf_counter()
    pending: list[Event] = []
    while folded < total:
        while len(pending) < 500:
            pending.extend(conversation_events(tenant, rng, rng.randint(1, 4)))
        batch, pending = pending[:500], pending[500:]
        await fold_events(new_uow, [observed_event(e) for e in batch])
        folded += len(batch)
    return folded / (time.perf_counter() - started)


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


async def latency_phase(database_url: str, rate: int, seconds: int) -> None:
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
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        nc = await connect(f"nats://127.0.0.1:{port}", name="reporting-bench")
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
        task = asyncio.create_task(consumer.run(stop))
        tenant = f"latency-{uuid.uuid4().hex[:8]}"
        service = ReportingService(lambda: ReportingUnitOfWork(sessions, outbox))
        now = datetime.now(UTC)
        query = MetricQuery("messages_received", now - timedelta(hours=1), now + timedelta(hours=2))
        published: list[float] = []
        visible: list[float] = []
        rng = random.Random(3)

        async def poll() -> None:
            while len(visible) < len(published) or not published or len(published) < rate * seconds:
                answer = await service.query(tenant, EVERYTHING, query)
                seen = int(answer.current.summary.count)
                t = time.perf_counter()
                while len(visible) < min(seen, len(published)):
                    visible.append(t)
                await asyncio.sleep(0.02)

        poller = asyncio.create_task(poll())
        interval = 1 / rate
        t0 = time.perf_counter()
        for i in range(rate * seconds):
            due = t0 + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            customer = f"customers/{rng.randrange(1000)}"
            payload = me.MessageReceived(
                message=f"conversations/c{i % 500}/messages/{i}",
                conversation=f"conversations/c{i % 500}",
                customer=customer,
                language="en",
                sender=channel_pb2.ChannelIdentity(channel=channel_pb2.CHANNEL_EMAIL),
            )
            event_type, envelope = new_envelope(
                tenant, payload, occurred_at=datetime.now(UTC), trace_context={}
            )
            await js.publish(
                event_type.subject,
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": envelope.event_id},
            )
            published.append(time.perf_counter())
        sent_rate = len(published) / (time.perf_counter() - t0)
        await asyncio.wait_for(poller, timeout=120)
        latencies = [v - p for p, v in zip(published, visible, strict=False)]
        print(f"published {len(published)} events at {sent_rate:,.0f}/s (asked {rate}/s)")
        print(summary_ms("event -> visible in a query", latencies, target="p95 <= 2 s"))
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await nc.close()
    finally:
        await engine.dispose()
        nats.terminate()
        nats.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    if args.db == "postgres":
        url = fresh_postgres_database(DEFAULT_PG_URL, "crosstalk_reporting_bench")
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='reporting-bench-')}/reporting.db"
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, url)
    engine = create_engine(url)
    sessions = session_factory(engine)

    def new_uow() -> ReportingUnitOfWork:
        return ReportingUnitOfWork(sessions, outbox)

    tenant = "bench-tenant"
    rate = await fold_phase(new_uow, tenant, args.events)
    async with new_uow() as uow:
        facts = await uow.session.scalar(select(func.count()).select_from(measure_facts))
    print(
        f"[{args.db}] folded {args.events:,} events at {rate:,.0f} events/s "
        f"({facts:,} observations); 10,000,000 events at this rate: "
        f"{10_000_000 / rate / 60:,.1f} min"
    )
    await query_phase(new_uow, tenant, args.runs)
    await engine.dispose()
    if args.latency:
        await latency_phase(url, args.rate, args.seconds)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
