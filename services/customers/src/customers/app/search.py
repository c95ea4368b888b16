"""Finding customers: ListCustomers, SearchCustomers, CountCustomers, and what a filter may name."""

from __future__ import annotations

from dataclasses import dataclass

from crosstalk_common.conditions.model import FieldSpec, Node
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.ports import UnitOfWork
from customers.domain.filter_fields import DEFAULT_MAX_FILTER_CONDITIONS, filter_fields
from customers.domain.model import Customer


@dataclass(frozen=True)
class CustomerSearch:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        condition: Node | None,
        after: list[str],
        limit: int,
    ) -> list[Customer]:
        async with self.new_uow() as uow:
            return await uow.customers.page(
                tenant_id, visibility, condition=condition, after=after, limit=limit
            )

    async def count(self, tenant_id: str, visibility: Visibility, condition: Node | None) -> int:
        async with self.new_uow() as uow:
            return await uow.customers.count(tenant_id, visibility, condition)

    async def filter_fields(
        self, tenant_id: str, *, in_memory: bool = False
    ) -> tuple[dict[str, FieldSpec], int]:
        """The fields the tenant's customer filters may name, and how many leaves they may have."""
        async with self.new_uow() as uow:
            definitions = await uow.fields.by_key(tenant_id)
            limit = await uow.customers.max_filter_conditions(tenant_id)
        fields = filter_fields(definitions, in_memory=in_memory)
        return fields, limit or DEFAULT_MAX_FILTER_CONDITIONS
