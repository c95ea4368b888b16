"""Tenant settings identity owns and customers keeps a copy of."""

from __future__ import annotations

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.ports import UnitOfWork


async def keep_filter_condition_limit(
    new_uow: UnitOfWorkFactory[UnitOfWork], tenant_id: str, limit: int
) -> None:
    """The most leaves a customer filter of the tenant may have; a limit of 0
    or less (the tenant did not set one) keeps the one customers has."""
    if limit <= 0:
        return
    async with new_uow() as uow:
        await uow.customers.save_max_filter_conditions(tenant_id, limit)
        await uow.commit()
