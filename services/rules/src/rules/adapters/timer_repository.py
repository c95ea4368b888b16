"""Durable timers in SQL (migration 0005), and the bulk reads a poller's batch
makes of the projections, always by tenant.

Claiming is one statement on both databases: ``UPDATE rule_timers SET
state = 'firing' WHERE id IN (due pending ids) AND state = 'pending'
RETURNING ...``. On PostgreSQL the inner SELECT takes ``FOR UPDATE SKIP
LOCKED``, so concurrent pollers take disjoint rows without waiting; on SQLite
the conditional UPDATE runs under the database's single writer lock. Either
way the claim lasts as long as the poller's transaction: a poller that dies
before committing leaves its timers pending, and one that committed has
settled them (fired, cancelled, or pending with a schedule's cursor moved).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc, utc_now
from rules.adapters.engine_repository import log_row, run_row
from rules.adapters.repository import rule_from_row
from rules.adapters.tables import (
    conversation_projections,
    customer_projections,
    evaluation_log,
    rule_runs,
    rule_settings,
    rule_timers,
    rules,
)
from rules.domain.model import Rule, Trigger
from rules.domain.runs import LoggedTrigger, Run
from rules.domain.timers import Timer, TimerState


def _is_postgres(session: AsyncSession) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


def _timer_row(timer: Timer, now: datetime) -> dict[str, Any]:
    return {
        "id": timer.id,
        "tenant_id": timer.tenant_id,
        "rule_id": timer.rule_id,
        "rule_version": timer.rule_version,
        "trigger": timer.trigger.value,
        "subject": timer.subject,
        "cycle": timer.cycle,
        "due_at": timer.due_at,
        "state": timer.state.value,
        "customer": timer.customer,
        "conversation": timer.conversation,
        "facts": dict(timer.facts),
        "cursor": timer.cursor,
        "created_at": now,
    }


def timer_from_row(row: Any) -> Timer:
    return Timer(
        tenant_id=row.tenant_id,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
        trigger=Trigger(row.trigger),
        subject=row.subject,
        cycle=row.cycle,
        due_at=as_utc(row.due_at),
        customer=row.customer,
        conversation=row.conversation,
        facts=dict(row.facts or {}),
        state=TimerState(row.state),
        cursor=row.cursor,
    )


class SqlTimers:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def arm(self, timers: Sequence[Timer]) -> int:
        if not timers:
            return 0
        dialect = postgresql if _is_postgres(self._session) else sqlite
        now = utc_now()
        # One statement, executed for many rows (compiled once, cached).
        statement = dialect.insert(rule_timers).on_conflict_do_nothing().returning(rule_timers.c.id)
        rows = [_timer_row(t, now) for t in timers]
        return len((await self._session.execute(statement, rows)).all())

    async def cancel(
        self, tenant_id: str, subject: str, triggers: Collection[Trigger], at: datetime
    ) -> int:
        c = rule_timers.c
        result: Any = await self._session.execute(
            update(rule_timers)
            .where(
                c.tenant_id == tenant_id,
                c.subject == subject,
                c.state == TimerState.PENDING.value,
                c.trigger.in_([t.value for t in triggers]),
            )
            .values(state=TimerState.CANCELLED.value, settled_at=at)
        )
        return int(result.rowcount or 0)

    async def claim_due(self, now: datetime, limit: int) -> list[Timer]:
        c = rule_timers.c
        due = (
            select(c.id)
            .where(c.state == TimerState.PENDING.value, c.due_at <= now)
            .order_by(c.due_at)
            .limit(limit)
        )
        # A read first: when nothing is due (most passes) no write lock is taken
        # (SQLite's single writer stays free for the consumers).
        if await self._session.scalar(due.limit(1)) is None:
            return []
        if _is_postgres(self._session):
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(rule_timers)
            .where(c.id.in_(due.scalar_subquery()), c.state == TimerState.PENDING.value)
            .values(state=TimerState.FIRING.value)
            .returning(*rule_timers.c)
        )
        rows = (await self._session.execute(statement)).all()
        timers = [timer_from_row(r) for r in rows]
        timers.sort(key=lambda t: (t.due_at, t.id))
        return timers

    async def settle(
        self,
        *,
        fired: Collection[str],
        cancelled: Collection[str],
        advanced: Mapping[str, str],
        at: datetime,
    ) -> None:
        c = rule_timers.c
        for state, ids in ((TimerState.FIRED, fired), (TimerState.CANCELLED, cancelled)):
            ids = list(ids)
            for start in range(0, len(ids), 5000):
                await self._session.execute(
                    update(rule_timers)
                    .where(c.id.in_(ids[start : start + 5000]))
                    .values(state=state.value, settled_at=at)
                )
        for timer_id, cursor in advanced.items():
            await self._session.execute(
                update(rule_timers)
                .where(c.id == timer_id)
                .values(state=TimerState.PENDING.value, cursor=cursor)
            )

    async def schedule_rules(self) -> list[Rule]:
        rows = await self._session.execute(
            select(rules).where(
                rules.c.trigger == Trigger.SCHEDULE.value, rules.c.enabled.is_(True)
            )
        )
        return [rule_from_row(r) for r in rows]

    async def tenant_zones(self, tenant_ids: Collection[str]) -> dict[str, str]:
        if not tenant_ids:
            return {}
        rows = await self._session.execute(
            select(rule_settings.c.tenant_id, rule_settings.c.time_zone).where(
                rule_settings.c.tenant_id.in_(list(tenant_ids))
            )
        )
        return {tenant: zone for tenant, zone in rows if zone}

    async def customers(
        self, tenant_id: str, names: Collection[str]
    ) -> dict[str, Mapping[str, Any]]:
        table = customer_projections
        return await self._facts(table, table.c.customer, tenant_id, names)

    async def conversations(
        self, tenant_id: str, names: Collection[str]
    ) -> dict[str, Mapping[str, Any]]:
        table = conversation_projections
        return await self._facts(table, table.c.conversation, tenant_id, names)

    async def _facts(
        self, table: Any, key: Any, tenant_id: str, names: Collection[str]
    ) -> dict[str, Mapping[str, Any]]:
        found: dict[str, Mapping[str, Any]] = {}
        names = [n for n in names if n]
        for start in range(0, len(names), 5000):
            rows = await self._session.execute(
                select(key, table.c.facts).where(
                    table.c.tenant_id == tenant_id, key.in_(names[start : start + 5000])
                )
            )
            found.update({name: dict(facts) for name, facts in rows})
        return found

    async def customers_after(
        self, tenant_id: str, after: str, limit: int
    ) -> list[tuple[str, Mapping[str, Any]]]:
        c = customer_projections.c
        rows = await self._session.execute(
            select(c.customer, c.facts)
            .where(and_(c.tenant_id == tenant_id, c.customer > after))
            .order_by(c.customer)
            .limit(limit)
        )
        return [(name, dict(facts)) for name, facts in rows]

    async def add_runs(self, runs: Sequence[Run]) -> None:
        # An executemany, as a multi-row VALUES of a thousand runs costs far more to compile.
        if not runs:
            return
        await self._session.execute(insert(rule_runs), [run_row(run) for run in runs])

    async def log_many(self, entries: Sequence[LoggedTrigger]) -> None:
        if not entries:
            return
        dialect = postgresql if _is_postgres(self._session) else sqlite
        statement = dialect.insert(evaluation_log).on_conflict_do_nothing()
        await self._session.execute(statement, [log_row(e) for e in entries])


# --- the kill switch of the crash test ---------------------------------------------------

CRASH_SETTING = "RULES_TIMERS_CRASH_AT"


def crash_hook_from_env(environ: Mapping[str, str] = os.environ) -> Callable[[str], None]:
    """``RULES_TIMERS_CRASH_AT=claimed|committed`` makes the poller's process kill
    itself (SIGKILL: no cleanup, no rollback sent) at that point of its first
    batch: the test that proves a timer fires once across a crash sets it;
    nothing else should."""
    point = environ.get(CRASH_SETTING, "").strip()

    def checkpoint(reached: str) -> None:
        if point and reached == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def timer_settings(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The poller's settings: ``RULES_TIMERS_BATCH`` (timers claimed per
    transaction, 500), ``RULES_TIMERS_SCHEDULE_BATCH`` (customers of a schedule's
    occurrence per transaction, 500), ``RULES_TIMERS_POLL_SECONDS`` (the wait
    when nothing is due, 1.0)."""
    return {
        "batch_size": max(1, int(environ.get("RULES_TIMERS_BATCH", "500"))),
        "schedule_batch": max(1, int(environ.get("RULES_TIMERS_SCHEDULE_BATCH", "500"))),
        "poll_interval": max(0.05, float(environ.get("RULES_TIMERS_POLL_SECONDS", "1.0"))),
    }
