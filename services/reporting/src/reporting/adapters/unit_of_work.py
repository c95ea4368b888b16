"""The reporting unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from reporting.adapters.repository import SqlCustomerOwners, SqlEventCounts


class ReportingUnitOfWork(SqlUnitOfWork):
    counts: SqlEventCounts
    owners: SqlCustomerOwners

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.counts = SqlEventCounts(self.session)
        self.owners = SqlCustomerOwners(self.session)
        return self
