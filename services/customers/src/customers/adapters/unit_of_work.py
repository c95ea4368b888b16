"""The customers unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from customers.adapters.repository import SqlCustomerRepository


class CustomersUnitOfWork(SqlUnitOfWork):
    customers: SqlCustomerRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.customers = SqlCustomerRepository(self.session)
        return self
