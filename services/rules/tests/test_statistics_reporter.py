"""The hourly counters reach the bus as increments, each reported once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.bus.envelope import read_event
from rules.adapters.statistics_reporter import WINDOW, StatisticsReporter, unreported_rows
from rules.adapters.tables import outbox
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.domain.runs import Counter

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
HOUR = NOW.replace(minute=0)


async def reports(
    sessions: async_sessionmaker[AsyncSession], tenant: str
) -> list[rule_events_pb2.RuleStatisticsReported]:
    async with sessions() as session:
        rows = (await session.execute(select(outbox.c.payload))).scalars().all()
    found = []
    for row in rows:
        event = read_event(row)
        if event.tenant_id == tenant and isinstance(
            event.payload, rule_events_pb2.RuleStatisticsReported
        ):
            found.append(event.payload)
    return found


async def add(new_uow: Callable[[], RulesUnitOfWork], tenant: str, **counts: int) -> None:
    async with new_uow() as uow:
        await uow.statistics.add(
            tenant, HOUR, {"r1": {Counter(name): n for name, n in counts.items()}}
        )
        await uow.commit()


async def test_increments_are_reported_once_each(
    sessions: async_sessionmaker[AsyncSession],
    new_uow: Callable[[], RulesUnitOfWork],
    tenant: str,
) -> None:
    async with sessions() as session:
        await session.execute(delete(outbox))
        await session.commit()
    reporter = StatisticsReporter(new_uow, clock=lambda: NOW)  # type: ignore[arg-type]
    await add(new_uow, tenant, evaluated=5, matched=2, fired=1, suppressed_cooldown=1)
    assert await reporter.report() >= 1
    assert await reporter.report() == 0  # nothing new: nothing reported
    await add(new_uow, tenant, evaluated=3, matched=1, fired=1)
    assert await reporter.report() >= 1
    sent = await reports(sessions, tenant)
    counts = [c for report in sent for c in report.counts]
    assert [(c.rule, c.evaluated, c.matched, c.fired) for c in counts] == [
        ("rules/r1", 5, 2, 1),
        ("rules/r1", 3, 1, 1),
    ]
    assert dict(counts[0].suppressed) == {"cooldown": 1}
    assert counts[0].hour.ToDatetime(tzinfo=UTC) == HOUR
    assert sum(c.evaluated for c in counts) == 8  # what GetRuleStatistics adds up


async def test_hours_older_than_the_window_are_not_reported(
    sessions: async_sessionmaker[AsyncSession],
    new_uow: Callable[[], RulesUnitOfWork],
    tenant: str,
) -> None:
    await add(new_uow, tenant, evaluated=2)
    later = StatisticsReporter(new_uow, clock=lambda: NOW + timedelta(days=3))  # type: ignore[arg-type]
    await later.report()
    assert await reports(sessions, tenant) == []


async def test_the_reporters_read_searches_the_hour_index(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    """Every few seconds the reporter reads the last two days of counters: through
    the hour index, not every rule's every hour since the service began."""
    if not database_url.startswith("sqlite"):
        pytest.skip("reads SQLite's query plan")
    compiled = unreported_rows(NOW - WINDOW).compile(
        dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True}
    )
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    async with sessions() as session:
        connection = await session.connection()
        plan = [
            str(row[-1])
            for row in await connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(compiled), params
            )
        ]
    assert any("ix_rule_hourly_stats_hour" in step for step in plan), plan
    assert "SCAN rule_hourly_stats" not in plan, plan
