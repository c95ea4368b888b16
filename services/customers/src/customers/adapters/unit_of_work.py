"""The customers unit of work over SQLAlchemy.

Its events are staged as the use cases emit them (an id, the time, the
trace context and causation of that moment) but serialized when it commits,
after every write: only then does each event about a customer get its
snapshot of the customer (``adapters/snapshots.py``, set-based for all the
transaction's events).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from google.protobuf.message import Message
from opentelemetry import propagate
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.bus.causation import Causation, current_causation
from crosstalk_common.bus.envelope import EnvelopeWriter, new_event_ids
from crosstalk_common.clock import utc_now
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from customers.adapters.field_repository import SqlCustomFieldRepository
from customers.adapters.filter_index.index import FilterIndex
from customers.adapters.job_repository import SqlJobRepository
from customers.adapters.mapping import event_pb
from customers.adapters.merge_repository import SqlMergeRepository
from customers.adapters.repository import SqlCustomerRepository
from customers.adapters.scoring_repository import SqlScoringRepository
from customers.adapters.segment_repository import SqlSegmentRepository
from customers.adapters.snapshots import with_snapshots
from customers.adapters.tag_repository import SqlTagRepository
from customers.domain.events import CustomerEvent

# From this many events on, commit serializes them in a worker thread.
_ENVELOPES_IN_A_THREAD = 100


@dataclass
class _Pending:
    """Events staged by one emit / emit_many call, sharing what the moment gave them."""

    tenant_id: str
    events: list[Message | CustomerEvent]
    ids: list[str]
    occurred_at: datetime
    trace_context: dict[str, str]
    causation: Causation | None


def _outbox_rows(pending: Sequence[_Pending]) -> list[dict[str, Any]]:
    """The outbox rows of the pending events (as crosstalk_common.db.outbox builds them)."""
    rows = []
    for p in pending:
        writer = EnvelopeWriter(
            p.tenant_id,
            occurred_at=p.occurred_at,
            trace_context=p.trace_context,
            causation=p.causation,
        )
        for event_id, event in zip(p.ids, p.events, strict=True):
            event_type, envelope = writer.write(event_pb(event), event_id)
            rows.append(
                {
                    "id": event_id,
                    "subject": event_type.subject,
                    "payload": envelope,
                    "headers": p.trace_context,
                    "created_at": p.occurred_at,
                    "attempts": 0,
                }
            )
    return rows


class CustomersUnitOfWork(SqlUnitOfWork):
    customers: SqlCustomerRepository
    tags: SqlTagRepository
    fields: SqlCustomFieldRepository
    jobs: SqlJobRepository
    segments: SqlSegmentRepository
    merges: SqlMergeRepository
    scoring: SqlScoringRepository

    def __init__(
        self,
        sessions: async_sessionmaker[Any] | None,
        outbox: Table,
        *,
        after_commit: Callable[[], None] | None = None,
        joined: AsyncSession | None = None,
        savepoint: bool = True,
        filter_index: FilterIndex | None = None,
    ) -> None:
        super().__init__(
            sessions, outbox, after_commit=after_commit, joined=joined, savepoint=savepoint
        )
        self._filter_index = filter_index
        self._pending: list[_Pending] = []

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._pending = []
        self.customers = SqlCustomerRepository(self.session, self._filter_index)
        self.tags = SqlTagRepository(self.session)
        self.fields = SqlCustomFieldRepository(self.session)
        self.jobs = SqlJobRepository(self.session)
        self.segments = SqlSegmentRepository(self.session)
        self.merges = SqlMergeRepository(self.session)
        self.scoring = SqlScoringRepository(self.session)
        return self

    async def emit(
        self,
        tenant_id: str,
        payload: Message | CustomerEvent,
        *,
        causation: Causation | None = None,
    ) -> str:
        """Stage an event; a CustomerEvent is staged as its proto, with its snapshot."""
        return (await self.emit_many(tenant_id, [payload], causation=causation))[0]

    async def emit_many(
        self,
        tenant_id: str,
        payloads: Sequence[Message | CustomerEvent],
        *,
        causation: Causation | None = None,
    ) -> list[str]:
        """Stage many events at once; their ids, in order. Uses no connection."""
        if not payloads:
            return []
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        ids = new_event_ids(len(payloads))
        self._pending.append(
            _Pending(
                tenant_id,
                list(payloads),
                ids,
                utc_now(),
                carrier,
                causation if causation is not None else current_causation(),
            )
        )
        return ids

    async def commit(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            by_tenant: dict[str, list[Message | CustomerEvent]] = {}
            for p in pending:
                by_tenant.setdefault(p.tenant_id, []).extend(p.events)
            for tenant_id, events in by_tenant.items():
                done = iter(await with_snapshots(self.session, tenant_id, events))
                for p in pending:
                    if p.tenant_id == tenant_id:
                        p.events = [next(done) for _ in p.events]
            if sum(len(p.events) for p in pending) >= _ENVELOPES_IN_A_THREAD:
                rows = await asyncio.to_thread(_outbox_rows, pending)
            else:
                rows = _outbox_rows(pending)
            self._staged.extend(rows)
        await super().commit()
