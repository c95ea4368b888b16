"""The rules unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from rules.adapters.repository import SqlRulesRepository


class RulesUnitOfWork(SqlUnitOfWork):
    rules: SqlRulesRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.rules = SqlRulesRepository(self.session)
        return self
