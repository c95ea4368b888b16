"""The identity unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from identity.adapters.repository import SqlIdentityRepository


class IdentityUnitOfWork(SqlUnitOfWork):
    identity: SqlIdentityRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.identity = SqlIdentityRepository(self.session)
        return self
