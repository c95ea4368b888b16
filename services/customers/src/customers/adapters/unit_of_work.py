"""The customers unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from customers.adapters.field_repository import SqlCustomFieldRepository
from customers.adapters.repository import SqlCustomerRepository
from customers.adapters.tag_repository import SqlTagRepository


class CustomersUnitOfWork(SqlUnitOfWork):
    customers: SqlCustomerRepository
    tags: SqlTagRepository
    fields: SqlCustomFieldRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.customers = SqlCustomerRepository(self.session)
        self.tags = SqlTagRepository(self.session)
        self.fields = SqlCustomFieldRepository(self.session)
        return self
