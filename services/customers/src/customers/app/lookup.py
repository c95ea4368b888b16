"""The one customer a use case acts on, as its caller may see them."""

from __future__ import annotations

from crosstalk_common.errors import NotFound
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
