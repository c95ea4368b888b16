"""The customers unit of work over SQLAlchemy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Self

from google.protobuf.message import Message
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.bus.causation import Causation
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from customers.adapters.field_repository import SqlCustomFieldRepository
from customers.adapters.filter_index.index import FilterIndex
from customers.adapters.job_repository import SqlJobRepository
from customers.adapters.mapping import event_pb
from customers.adapters.merge_repository import SqlMergeRepository
from customers.adapters.repository import SqlCustomerRepository
from customers.adapters.scoring_repository import SqlScoringRepository
from customers.adapters.segment_repository import SqlSegmentRepository
from customers.adapters.tag_repository import SqlTagRepository
from customers.domain.events import CustomerEvent


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
        filter_index: FilterIndex | None = None,
    ) -> None:
        super().__init__(sessions, outbox, after_commit=after_commit, joined=joined)
        self._filter_index = filter_index

    async def __aenter__(self) -> Self:
        await super().__aenter__()
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
        """Stage an event; a CustomerEvent is staged as its proto."""
        return await super().emit(tenant_id, event_pb(payload), causation=causation)

    async def emit_many(
        self,
        tenant_id: str,
        payloads: Sequence[Message | CustomerEvent],
        *,
        causation: Causation | None = None,
    ) -> list[str]:
        return await super().emit_many(
            tenant_id, [event_pb(p) for p in payloads], causation=causation
        )
