"""The customers unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from customers.adapters.field_repository import SqlCustomFieldRepository
from customers.adapters.job_repository import SqlJobRepository
from customers.adapters.merge_repository import SqlMergeRepository
from customers.adapters.repository import SqlCustomerRepository
from customers.adapters.scoring_repository import SqlScoringRepository
from customers.adapters.segment_repository import SqlSegmentRepository
from customers.adapters.tag_repository import SqlTagRepository


class CustomersUnitOfWork(SqlUnitOfWork):
    customers: SqlCustomerRepository
    tags: SqlTagRepository
    fields: SqlCustomFieldRepository
    jobs: SqlJobRepository
    segments: SqlSegmentRepository
    merges: SqlMergeRepository
    scoring: SqlScoringRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.customers = SqlCustomerRepository(self.session)
        self.tags = SqlTagRepository(self.session)
        self.fields = SqlCustomFieldRepository(self.session)
        self.jobs = SqlJobRepository(self.session)
        self.segments = SqlSegmentRepository(self.session)
        self.merges = SqlMergeRepository(self.session)
        self.scoring = SqlScoringRepository(self.session)
        return self
