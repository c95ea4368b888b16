"""The reporting unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from reporting.adapters.repository import SqlMeasureStore, SqlProjectionStore


class ReportingUnitOfWork(SqlUnitOfWork):
    measures: SqlMeasureStore
    projections: SqlProjectionStore

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.measures = SqlMeasureStore(self.session)
        self.projections = SqlProjectionStore(self.session)
        return self
