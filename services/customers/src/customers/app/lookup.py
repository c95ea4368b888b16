"""The one customer a use case acts on, as its caller may see them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from crosstalk_common.errors import NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.ports import UnitOfWork
from customers.domain.model import Customer
from customers.domain.names import CUSTOMER, customer_name


async def visible_customer(
    uow: UnitOfWork, tenant_id: str, visibility: Visibility, customer_id: str
) -> Customer:
    """The customer; NOT_FOUND when there is none or it is outside the caller's scope."""
    customer = await uow.customers.get(tenant_id, customer_id, visibility)
    if customer is None:
        raise NotFound(CUSTOMER, customer_name(customer_id))
    return customer


T = TypeVar("T")


async def read_of_visible_customer(
    new_uow: UnitOfWorkFactory[UnitOfWork],
    tenant_id: str,
    visibility: Visibility,
    customer_id: str,
    read: Callable[[UnitOfWork], Awaitable[T]],
) -> T:
    """``read`` of one customer's records (a page of a history, a ledger), done
    only once the caller may see the customer; NOT_FOUND otherwise."""
    async with new_uow() as uow:
        await visible_customer(uow, tenant_id, visibility, customer_id)
        return await read(uow)
