"""Rules' durable timers (issue 16, core_loop §4): the "Timers" part of
`bench/rules_bench.py` (`python -m bench.rules_bench --part timers`).

100,000 pending "no agent reply for 24 h" timers, all due, on conversations and
customers rules has projected, are claimed and fired by the real poller
(``TimerPoller.fire_due``: claim with the conditional UPDATE / SKIP LOCKED,
re-check on the projection, ``Engine.run_in`` for the rule, runs, evaluation
log, counters and outbox events written per batch, timers settled), one batch
per transaction, until none is due. Target: >= 2,000 timers fired per second.
Printed: timers per second, per-batch latency, rows written.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.stats import summary_ms
from crosstalk_common.conditions.model import Leaf, Op
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_devstack.databases import DEFAULT_PG_URL, fresh_postgres_database
from rules.adapters.tables import (
    conversation_projections,
    customer_projections,
    outbox,
    rule_runs,
    rule_timers,
)
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.enabled_rules import EnabledRules
from rules.app.running import Engine
from rules.app.timers import TimerPoller
from rules.domain.actions import Escalate
from rules.domain.model import Rule, TimeTrigger, Trigger
from rules.domain.timers import no_reply_timer

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "rules" / "migrations"
TENANT = "tenant-timers-bench"
NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def the_rule() -> Rule:
    from crosstalk.common.v1 import condition_pb2

    leaf = condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(
            field="conversation.follow_ups",
            operator=condition_pb2.OPERATOR_GTE,
            values=["1"],
        )
    )
    return Rule(
        id="00000000-0000-4000-8000-000000000016",
        tenant_id=TENANT,
        display_name="no agent reply for 24 h",
        trigger=Trigger.NO_REPLY_TIMEOUT,
        condition=Leaf("conversation.follow_ups", Op.GTE, (1,)),
        condition_blob=leaf.SerializeToString(),
        actions=(Escalate("no agent reply for 24 h", group="groups/seniors"),),
        time_trigger=TimeTrigger(delay_seconds=24 * 3600),
        created_at=NOW - timedelta(days=2),
        updated_at=NOW - timedelta(days=2),
    )


async def seed(sessions: object, count: int) -> None:
    """The rule, ``count`` projected customers and conversations, one due timer each."""
    rule = the_rule()
    async with RulesUnitOfWork(sessions, outbox) as uow:  # type: ignore[arg-type]
        await uow.rules.add(rule)
        await uow.commit()
    chunk = 2_000
    for start in range(0, count, chunk):
        names = range(start, min(count, start + chunk))
        async with RulesUnitOfWork(sessions, outbox) as uow:  # type: ignore[arg-type]
            session = uow.session
            await session.execute(
                insert(customer_projections),
                [
                    {
                        "tenant_id": TENANT,
                        "customer": f"customers/c{i:06d}",
                        "version": 1,
                        "facts": {"customer.tier": "VIP" if i % 10 == 0 else "Silver"},
                        "updated_at": NOW,
                    }
                    for i in names
                ],
            )
            await session.execute(
                insert(conversation_projections),
                [
                    {
                        "tenant_id": TENANT,
                        "conversation": f"conversations/v{i:06d}",
                        "customer": f"customers/c{i:06d}",
                        "facts": {
                            "conversation.status": "unread",
                            "conversation.follow_ups": 1 + i % 3,
                        },
                        "event_time": NOW - timedelta(days=1, hours=1),
                    }
                    for i in names
                ],
            )
            await uow.timers.arm(
                [
                    no_reply_timer(
                        rule,
                        conversation=f"conversations/v{i:06d}",
                        customer=f"customers/c{i:06d}",
                        last_agent_reply=None,
                        waiting_since=NOW - timedelta(days=1, minutes=i % 50),
                    )
                    for i in names
                ]
            )
            await uow.commit()


async def run(count: int, db: str, batch_size: int) -> None:
    if db == "postgres":
        url = fresh_postgres_database(DEFAULT_PG_URL, "crosstalk_rules_timers_bench")
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='rules-timers-bench-')}/rules.db"
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        started = time.perf_counter()
        await seed(sessions, count)
        print(
            f"Timers ({db}): {count:,} pending timers seeded in "
            f"{time.perf_counter() - started:.1f} s"
        )

        def clock() -> datetime:
            return NOW

        poller = TimerPoller(
            lambda: RulesUnitOfWork(sessions, outbox),
            Engine(EnabledRules(), clock=clock),
            clock=clock,
            batch_size=batch_size,
        )
        batches: list[float] = []
        fired = cancelled = 0
        cpu = time.process_time()
        started = time.perf_counter()
        while True:
            t = time.perf_counter()
            result = await poller.fire_due()
            if not result.claimed:
                break
            batches.append(time.perf_counter() - t)
            fired += result.fired
            cancelled += result.cancelled
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        async with sessions() as session:
            runs = await session.scalar(select(func.count()).select_from(rule_runs))
            events = await session.scalar(select(func.count()).select_from(outbox))
            left = await session.scalar(
                select(func.count())
                .select_from(rule_timers)
                .where(rule_timers.c.state == "pending")
            )
        print(
            f"  claimed and fired {fired:,} timers ({cancelled:,} cancelled) in {elapsed:.1f} s: "
            f"{fired / elapsed:,.0f} timers/s  [target >= 2,000/s]"
        )
        print(f"  process CPU {cpu:.1f} s ({cpu / max(fired, 1) * 1e6:,.0f} us per timer)")
        print("  " + summary_ms(f"one batch of {batch_size} (one transaction)", batches))
        print(f"  written: {runs:,} runs, {events:,} outbox events; still pending: {left:,}")
        print(f"  load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        await engine.dispose()


def timers_part(count: int = 100_000, db: str = "sqlite", batch_size: int = 1_000) -> None:
    asyncio.run(run(count, db, batch_size))
