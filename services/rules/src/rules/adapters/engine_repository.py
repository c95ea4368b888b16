"""The engine's storage in SQL (migration 0004), always filtered by tenant:
runs, projections, the evaluation log, hourly counters, rule settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from crosstalk_common.errors import FailedPrecondition, PreconditionViolation
from crosstalk_common.secrets import Keyring
from crosstalk_common.visibility import Visibility
from rules.adapters.customer_scope import visible_customer
from rules.adapters.revisions import RuleRevisions
from rules.adapters.tables import (
    STATISTICS_COUNTERS,
    conversation_projections,
    customer_projections,
    evaluation_log,
    rule_hourly_stats,
    rule_runs,
    rule_settings,
)
from rules.domain.evaluation import Outcome
from rules.domain.model import Trigger
from rules.domain.run_tallies import RunTally
from rules.domain.runs import (
    ActionResult,
    ActionStatus,
    Counter,
    HourCounts,
    LoggedTrigger,
    Run,
    RunFilter,
)
from rules.domain.settings import OpeningHours, RuleSettings


def _dialect(session: AsyncSession) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def _run_from_row(row: Any) -> Run:
    return Run(
        id=row.id,
        tenant_id=row.tenant_id,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
        trigger=Trigger(row.trigger) if row.trigger else Trigger.MESSAGE_RECEIVED,
        trigger_event_id=row.trigger_event_id,
        customer=row.customer,
        conversation=row.conversation,
        outcome=Outcome(row.outcome),
        summary=row.summary or "; ".join(row.explanation or ()),
        facts=row.facts or {},
        trace=row.trace,
        actions=tuple(ActionResult.from_json(a) for a in row.actions or ()),
        created_at=as_utc(row.created_at),
        causation_depth=row.causation_depth,
        error=row.error,
    )


# Statements run per triggering event are marked ``in_the_loop``: on SQLite they
# run in the event loop (reads by key; writes inside the consumer's transaction,
# which holds the write lock since its inbox row), instead of a trip each to
# aiosqlite's thread (issue 14). On PostgreSQL the mark means nothing.
# The writes are built once, their rows passed as parameters, so that SQLAlchemy
# compiles each once per process (a multi-row VALUES is compiled on every use).
_ADD_RUNS = in_the_loop(insert(rule_runs))
_LOG = {
    d.dialect.name: in_the_loop(d.insert(evaluation_log).on_conflict_do_nothing())
    for d in (postgresql, sqlite)
}
# Up to this many rows go one statement each in the loop; more go as one executemany
# (a trip to aiosqlite's thread on SQLite, one round trip on PostgreSQL).
_FEW_ROWS = 4


def _count_upsert(dialect: Any) -> Any:
    table = rule_hourly_stats
    statement = dialect.insert(table)
    return in_the_loop(
        statement.on_conflict_do_update(
            index_elements=[table.c.tenant_id, table.c.rule_id, table.c.hour],
            set_={name: table.c[name] + statement.excluded[name] for name in STATISTICS_COUNTERS},
        )
    )


_ADD_COUNTS = {d.dialect.name: _count_upsert(d) for d in (postgresql, sqlite)}
_CONVERSATION = in_the_loop(
    select(conversation_projections.c.facts, conversation_projections.c.event_time).where(
        conversation_projections.c.tenant_id == bindparam("tenant"),
        conversation_projections.c.conversation == bindparam("conversation"),
    )
)
_CUSTOMER = in_the_loop(
    select(customer_projections.c.facts).where(
        customer_projections.c.tenant_id == bindparam("tenant"),
        customer_projections.c.customer == bindparam("customer"),
    )
)


def _customer_upsert(dialect: Any) -> Any:
    """A customer's snapshot kept when newer than the one kept; RETURNING a row if it was."""
    table = customer_projections
    statement = dialect.insert(table)
    return in_the_loop(
        statement.on_conflict_do_update(
            index_elements=[table.c.tenant_id, table.c.customer],
            set_={
                "version": statement.excluded.version,
                "facts": statement.excluded.facts,
                "updated_at": statement.excluded.updated_at,
            },
            where=table.c.version < statement.excluded.version,
        ).returning(table.c.version)
    )


_SAVE_CUSTOMER = {d.dialect.name: _customer_upsert(d) for d in (postgresql, sqlite)}
_MERGED_CONVERSATION = in_the_loop(
    update(conversation_projections)
    .where(
        conversation_projections.c.tenant_id == bindparam("b_tenant"),
        conversation_projections.c.conversation == bindparam("b_conversation"),
    )
    .values(
        facts=bindparam("b_facts", type_=conversation_projections.c.facts.type),
        event_time=bindparam("b_at", type_=conversation_projections.c.event_time.type),
    )
)
# An action outcome's run, read and its actions saved by key (one per outcome). Read
# FOR UPDATE: the outcomes of one run's actions come from several services, to
# consumers that run side by side; on PostgreSQL two of them would each read the
# actions and write back their own, the later one undoing the earlier outcome
# (SQLite's writers take turns anyway: the clause is not rendered there).
_RUN = in_the_loop(
    select(rule_runs)
    .where(rule_runs.c.tenant_id == bindparam("tenant"), rule_runs.c.id == bindparam("run"))
    .with_for_update()
)
_SAVE_ACTIONS = in_the_loop(
    update(rule_runs)
    .where(rule_runs.c.tenant_id == bindparam("b_tenant"), rule_runs.c.id == bindparam("b_run"))
    .values(actions=bindparam("b_actions", type_=rule_runs.c.actions.type))
)
# A consumer batch's projections and runs, read at once (``preload``).
_CUSTOMERS = in_the_loop(
    select(customer_projections.c.customer, customer_projections.c.facts).where(
        customer_projections.c.tenant_id == bindparam("tenant"),
        customer_projections.c.customer.in_(bindparam("customers", expanding=True)),
    )
)
_CONVERSATIONS = in_the_loop(
    select(
        conversation_projections.c.conversation,
        conversation_projections.c.facts,
        conversation_projections.c.event_time,
    ).where(
        conversation_projections.c.tenant_id == bindparam("tenant"),
        conversation_projections.c.conversation.in_(bindparam("conversations", expanding=True)),
    )
)
_RUNS = in_the_loop(
    select(rule_runs)
    .where(
        rule_runs.c.tenant_id == bindparam("tenant"),
        rule_runs.c.id.in_(bindparam("runs", expanding=True)),
    )
    .order_by(rule_runs.c.id)  # locked in one order by every consumer
    .with_for_update()
)
_NEW_CONVERSATION = {
    d.dialect.name: in_the_loop(
        d.insert(conversation_projections)
        .on_conflict_do_nothing()
        .returning(conversation_projections.c.conversation)
    )
    for d in (postgresql, sqlite)
}


async def _execute(
    session: AsyncSession, statement: Any, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``statement`` for each row: a few one by one (in the loop on SQLite), more at once."""
    if len(rows) > _FEW_ROWS:
        await session.execute(statement, list(rows))
        return
    for row in rows:
        await session.execute(statement, row)


def run_row(run: Run) -> dict[str, Any]:
    """The rule_runs row of a run (its columns as the engine and the timers write them)."""
    return {
        "id": run.id,
        "tenant_id": run.tenant_id,
        "rule_id": run.rule_id,
        "rule_version": run.rule_version,
        "trigger_event_id": run.trigger_event_id[:36],
        "customer": run.customer,
        "explanation": [run.summary],
        "created_at": run.created_at,
        "trigger": run.trigger.value,
        "conversation": run.conversation,
        "outcome": run.outcome.value,
        "summary": run.summary,
        "facts": dict(run.facts),
        "trace": dict(run.trace) if run.trace is not None else None,
        "actions": [a.to_json() for a in run.actions],
        "causation_depth": run.causation_depth,
        "error": run.error,
    }


def log_row(entry: LoggedTrigger) -> dict[str, Any]:
    """The evaluation_log row of an entry."""
    return {
        "tenant_id": entry.tenant_id,
        "event_id": entry.event_id,
        "trigger": entry.trigger.value,
        "customer": entry.customer,
        "conversation": entry.conversation,
        "facts": dict(entry.facts),
        "occurred_at": entry.occurred_at,
        "causing_run": entry.causing_run,
        "causation_depth": entry.causation_depth,
    }


class SqlRunsRepository:
    """Action results saved are kept until the unit of work commits (``flush``), the
    last of each run written once: a run's outcomes in one consumer batch make one
    write. ``get`` sees them; every other read writes them first."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._saved: dict[tuple[str, str], Run] = {}
        self._read: dict[tuple[str, str], Run] = {}

    async def preload(self, tenant_id: str, run_ids: Sequence[str]) -> None:
        rows = await self._session.execute(_RUNS, {"tenant": tenant_id, "runs": list(run_ids)})
        for row in rows:
            self._read[(tenant_id, row.id)] = _run_from_row(row)

    async def add_many(self, runs: Sequence[Run]) -> None:
        await _execute(self._session, _ADD_RUNS, [run_row(run) for run in runs])

    async def get(self, tenant_id: str, run_id: str) -> Run | None:
        saved = self._saved.get((tenant_id, run_id)) or self._read.get((tenant_id, run_id))
        if saved is not None:
            return saved
        row = (await self._session.execute(_RUN, {"tenant": tenant_id, "run": run_id})).first()
        return None if row is None else _run_from_row(row)

    async def save_actions(self, run: Run) -> None:
        self._saved[(run.tenant_id, run.id)] = run

    async def flush(self) -> None:
        saved, self._saved = self._saved, {}
        rows = [
            {
                "b_tenant": run.tenant_id,
                "b_run": run.id,
                "b_actions": [a.to_json() for a in run.actions],
            }
            for run in saved.values()
        ]
        await _execute(self._session, _SAVE_ACTIONS, rows)

    async def get_visible(self, tenant_id: str, run_id: str, visibility: Visibility) -> Run | None:
        await self.flush()
        c = rule_runs.c
        row = (
            await self._session.execute(
                select(rule_runs).where(
                    c.tenant_id == tenant_id,
                    c.id == run_id,
                    visible_customer(visibility, tenant_id, c.customer),
                )
            )
        ).first()
        return None if row is None else _run_from_row(row)

    async def page(
        self,
        tenant_id: str,
        where: RunFilter,
        *,
        visibility: Visibility,
        after: list[str],
        limit: int,
    ) -> list[Run]:
        await self.flush()
        c = rule_runs.c
        query = select(rule_runs).where(
            c.tenant_id == tenant_id, visible_customer(visibility, tenant_id, c.customer)
        )
        if where.rule_id:
            query = query.where(c.rule_id == where.rule_id)
        if where.customer:
            query = query.where(c.customer == where.customer)
        if where.trigger_event_id:
            query = query.where(c.trigger_event_id == where.trigger_event_id)
        if where.outcome is not None:
            query = query.where(c.outcome == where.outcome.value)
        if where.start is not None:
            query = query.where(c.created_at >= where.start)
        if where.end is not None:
            query = query.where(c.created_at < where.end)
        if after:
            created, last_id = datetime.fromisoformat(after[0]), after[1]
            query = query.where(
                or_(c.created_at < created, and_(c.created_at == created, c.id < last_id))
            )
        rows = await self._session.execute(
            query.order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        )
        return [_run_from_row(r) for r in rows]

    async def tallies(
        self,
        tenant_id: str,
        rule_id: str,
        start: datetime,
        end: datetime,
        *,
        visibility: Visibility,
    ) -> list[RunTally]:
        await self.flush()
        c = rule_runs.c
        query = select(c.rule_id, c.outcome, c.created_at, c.actions).where(
            c.tenant_id == tenant_id,
            c.created_at >= start,
            c.created_at < end,
            visible_customer(visibility, tenant_id, c.customer),
        )
        if rule_id:
            query = query.where(c.rule_id == rule_id)
        return [
            RunTally(
                rule_id=row.rule_id,
                outcome=Outcome(row.outcome),
                at=as_utc(row.created_at),
                actions=tuple(ActionStatus(a["status"]) for a in row.actions or ()),
            )
            for row in await self._session.execute(query)
        ]

    async def last_fired(
        self, tenant_id: str, rule_ids: Sequence[str], customer: str
    ) -> dict[str, datetime]:
        await self.flush()
        c = rule_runs.c
        rows = await self._session.execute(
            in_the_loop(select(c.rule_id, func.max(c.created_at)))
            .where(
                c.tenant_id == tenant_id,
                c.rule_id.in_(list(rule_ids)),
                c.customer == customer,
                c.outcome == Outcome.MATCHED.value,
            )
            .group_by(c.rule_id)
        )
        return {rule_id: as_utc(at) for rule_id, at in rows if at is not None}


class SqlProjections:
    """A consumer's batch reads its customers and conversations at once
    (``preload``), and each event's facts come from there until this unit of work
    writes the row (then it is read from the table again, as stored). Only these
    methods write the projections."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # (tenant, name) -> facts (customers), (facts, event time) (conversations);
        # None: there is none.
        self._customers: dict[tuple[str, str], Mapping[str, Any] | None] = {}
        self._conversations: dict[tuple[str, str], tuple[Mapping[str, Any], datetime] | None] = {}

    async def preload(
        self, tenant_id: str, customers: Sequence[str], conversations: Sequence[str]
    ) -> None:
        if customers:
            rows = await self._session.execute(
                _CUSTOMERS, {"tenant": tenant_id, "customers": list(customers)}
            )
            found = {row.customer: row.facts for row in rows}
            for name in customers:
                self._customers[(tenant_id, name)] = found.get(name)
        if conversations:
            kept = {
                row.conversation: (row.facts, row.event_time)
                for row in await self._session.execute(
                    _CONVERSATIONS, {"tenant": tenant_id, "conversations": list(conversations)}
                )
            }
            for name in conversations:
                self._conversations[(tenant_id, name)] = kept.get(name)

    async def customer(self, tenant_id: str, customer: str) -> Mapping[str, Any] | None:
        key = (tenant_id, customer)
        if key in self._customers:
            kept = self._customers[key]
            return dict(kept) if kept is not None else None
        found = await self._session.scalar(_CUSTOMER, {"tenant": tenant_id, "customer": customer})
        return dict(found) if found is not None else None

    async def save_customer(
        self, tenant_id: str, customer: str, version: int, facts: Mapping[str, Any]
    ) -> bool:
        row = {
            "tenant_id": tenant_id,
            "customer": customer,
            "version": version,
            "facts": dict(facts),
            "updated_at": utc_now(),
        }
        statement = _SAVE_CUSTOMER[self._session.get_bind().dialect.name]
        kept = (await self._session.execute(statement, row)).first()
        self._customers.pop((tenant_id, customer), None)  # read from the table again
        return kept is not None

    async def customer_visible(self, tenant_id: str, customer: str, visibility: Visibility) -> bool:
        row = await self._session.scalar(
            select(customer_projections.c.customer).where(
                customer_projections.c.tenant_id == tenant_id,
                customer_projections.c.customer == customer,
                visible_customer(visibility, tenant_id, customer_projections.c.customer),
            )
        )
        return row is not None

    async def conversation_visible(
        self, tenant_id: str, conversation: str, visibility: Visibility
    ) -> bool:
        table = conversation_projections
        customer = await self._session.scalar(
            select(table.c.customer).where(
                table.c.tenant_id == tenant_id, table.c.conversation == conversation
            )
        )
        if customer is None:
            return True  # nothing is kept of it, so nothing to show
        return await self.customer_visible(tenant_id, customer, visibility)

    async def conversation(self, tenant_id: str, conversation: str) -> Mapping[str, Any] | None:
        row = await self._conversation_row(tenant_id, conversation)
        return dict(row[0]) if row is not None else None

    async def merge_conversation(
        self,
        tenant_id: str,
        conversation: str,
        customer: str,
        facts: Mapping[str, Any],
        at: datetime,
    ) -> Mapping[str, Any]:
        key = {"tenant": tenant_id, "conversation": conversation}
        row = await self._conversation_row(tenant_id, conversation)
        if row is None:
            merged = dict(facts)
            added = await self._session.execute(
                _NEW_CONVERSATION[self._session.get_bind().dialect.name],
                {
                    "tenant_id": tenant_id,
                    "conversation": conversation,
                    "customer": customer,
                    "facts": merged,
                    "event_time": at,
                },
            )
            self._conversations.pop((tenant_id, conversation), None)  # read again
            if added.first() is not None:
                return merged
            # Added meanwhile by another transaction (on PostgreSQL, the consumers of
            # conversation.created and message.received at once): merge into its row.
            found = (await self._session.execute(_CONVERSATION, key)).first()
            if found is None:
                return merged
            row = (found.facts, found.event_time)
        current = dict(row[0])
        if as_utc(row[1]) > as_utc(at):
            return {**facts, **current}  # a newer event was applied: it wins
        merged = {**current, **facts}
        await self._session.execute(
            _MERGED_CONVERSATION,
            {"b_tenant": tenant_id, "b_conversation": conversation, "b_facts": merged, "b_at": at},
        )
        self._conversations.pop((tenant_id, conversation), None)  # read again
        return merged

    async def _conversation_row(
        self, tenant_id: str, conversation: str
    ) -> tuple[Mapping[str, Any], datetime] | None:
        if (tenant_id, conversation) in self._conversations:
            return self._conversations[(tenant_id, conversation)]
        key = {"tenant": tenant_id, "conversation": conversation}
        row = (await self._session.execute(_CONVERSATION, key)).first()
        return None if row is None else (row.facts, row.event_time)


class SqlEvaluationLog:
    """Entries are kept until the unit of work commits (``flush``): one write for a
    consumer's whole batch."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._pending: list[dict[str, Any]] = []

    async def append(self, entry: LoggedTrigger) -> None:
        self._pending.append(log_row(entry))

    async def flush(self) -> None:
        rows, self._pending = self._pending, []
        if rows:
            statement = _LOG[self._session.get_bind().dialect.name]
            await _execute(self._session, statement, rows)

    async def between(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        visibility: Visibility,
        triggers: Sequence[Trigger] = (),
        limit: int = 100_000,
    ) -> list[LoggedTrigger]:
        await self.flush()
        c = evaluation_log.c
        query = select(evaluation_log).where(
            c.tenant_id == tenant_id,
            c.occurred_at >= start,
            c.occurred_at < end,
            visible_customer(visibility, tenant_id, c.customer),
        )
        if triggers:
            query = query.where(c.trigger.in_([t.value for t in triggers]))
        rows = await self._session.execute(query.order_by(c.occurred_at, c.event_id).limit(limit))
        return [
            LoggedTrigger(
                event_id=r.event_id,
                tenant_id=r.tenant_id,
                trigger=Trigger(r.trigger),
                customer=r.customer,
                conversation=r.conversation,
                facts=r.facts,
                occurred_at=as_utc(r.occurred_at),
                causing_run=r.causing_run,
                causation_depth=r.causation_depth,
            )
            for r in rows
        ]

    async def tenants(self) -> list[str]:
        await self.flush()
        rows = await self._session.execute(select(evaluation_log.c.tenant_id).distinct())
        return [tenant_id for (tenant_id,) in rows]

    async def purge(self, tenant_id: str, before: datetime) -> int:
        await self.flush()
        result: Any = await self._session.execute(
            delete(evaluation_log).where(
                evaluation_log.c.tenant_id == tenant_id, evaluation_log.c.occurred_at < before
            )
        )
        return int(result.rowcount or 0)


class SqlStatistics:
    """Increments are folded in memory until the unit of work commits (``flush``):
    one write per tenant, rule and hour for a consumer's whole batch."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._pending: dict[tuple[str, str, datetime], dict[Counter, int]] = {}

    async def add(
        self, tenant_id: str, hour: datetime, increments: Mapping[str, Mapping[Counter, int]]
    ) -> None:
        for rule_id, counts in increments.items():
            folded = self._pending.setdefault((tenant_id, rule_id, hour), {})
            for counter, amount in counts.items():
                folded[counter] = folded.get(counter, 0) + amount

    async def flush(self) -> None:
        """Insert each row of counters, or add to it on conflict."""
        pending, self._pending = self._pending, {}
        rows = [
            {
                "tenant_id": tenant_id,
                "rule_id": rule_id,
                "hour": hour,
                **{name: int(counts.get(Counter(name), 0)) for name in STATISTICS_COUNTERS},
            }
            for (tenant_id, rule_id, hour), counts in pending.items()
        ]
        if rows:
            statement = _ADD_COUNTS[self._session.get_bind().dialect.name]
            await _execute(self._session, statement, rows)

    async def hours(
        self, tenant_id: str, rule_id: str, start: datetime, end: datetime
    ) -> list[HourCounts]:
        await self.flush()
        c = rule_hourly_stats.c
        query = select(rule_hourly_stats).where(
            c.tenant_id == tenant_id, c.hour >= start, c.hour < end
        )
        if rule_id:
            query = query.where(c.rule_id == rule_id)
        rows = await self._session.execute(query.order_by(c.rule_id, c.hour))
        return [
            HourCounts(
                rule_id=r.rule_id,
                hour=as_utc(r.hour),
                counts={Counter(name): int(getattr(r, name)) for name in STATISTICS_COUNTERS},
            )
            for r in rows
        ]


_SECRET_CONTEXT = "rules.webhook_secret"  # noqa: S105 (the sealing context, not a secret)


class SqlSettings:
    """Rule settings; the webhook secret sealed under the keyring (ADR 0015)."""

    def __init__(
        self, session: AsyncSession, keyring: Keyring | None, revisions: RuleRevisions | None = None
    ) -> None:
        self._session = session
        self._keyring = keyring
        # A change of settings moves the rule revision: the engine keeps them by it.
        self._revisions = revisions or RuleRevisions(session)

    async def get(self, tenant_id: str) -> RuleSettings | None:
        row = (
            await self._session.execute(
                in_the_loop(select(rule_settings)).where(rule_settings.c.tenant_id == tenant_id)
            )
        ).first()
        if row is None:
            return None
        secret = ""
        if row.webhook_secret and self._keyring is not None:
            secret = self._keyring.open(
                row.webhook_secret, context=f"{_SECRET_CONTEXT}:{tenant_id}"
            ).decode()
        return RuleSettings(
            tenant_id=tenant_id,
            time_zone=row.time_zone,
            hours=tuple(
                OpeningHours(
                    h["weekday"], time.fromisoformat(h["start"]), time.fromisoformat(h["end"])
                )
                for h in row.business_hours
            ),
            holidays=tuple(date.fromisoformat(d) for d in row.holidays),
            retention=timedelta(seconds=row.retention_seconds),
            webhook_secret=secret,
            updated_at=as_utc(row.updated_at),
        )

    async def save(self, settings: RuleSettings) -> None:
        sealed = ""
        if settings.webhook_secret:
            if self._keyring is None:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "KEK", "rules", "no RULES_KEK to seal the webhook secret with"
                        )
                    ]
                )
            sealed = self._keyring.seal(
                settings.webhook_secret.encode(),
                context=f"{_SECRET_CONTEXT}:{settings.tenant_id}",
            )
        values = {
            "time_zone": settings.time_zone,
            "business_hours": [
                {"weekday": h.weekday, "start": h.start.isoformat(), "end": h.end.isoformat()}
                for h in settings.hours
            ],
            "holidays": [d.isoformat() for d in settings.holidays],
            "retention_seconds": int(settings.retention.total_seconds()),
            "webhook_secret": sealed,
            "updated_at": settings.updated_at or utc_now(),
        }
        statement = (
            _dialect(self._session)
            .insert(rule_settings)
            .values(tenant_id=settings.tenant_id, **values)
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=[rule_settings.c.tenant_id], set_=values)
        )
        await self._revisions.bump(settings.tenant_id)
