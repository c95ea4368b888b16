"""RecordOrder (with the customer's order totals) and ListOrders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import AlreadyExists, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.lookup import visible_customer
from customers.app.ports import OrderTaken, UnitOfWork
from customers.app.tiers import reassess_tier
from customers.app.timeline import record
from customers.domain.events import OrderRecorded
from customers.domain.model import Money, Order, validate_order
from customers.domain.names import CUSTOMER, ORDER, customer_name, order_name


@dataclass(frozen=True)
class Orders:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def record_order(
        self, tenant_id: str, visibility: Visibility, draft: Order, *, actor: str
    ) -> Order:
        """Stores the order and updates the customer's totals in one transaction.

        A store's order id is unique per tenant. Recording it again for the same
        customer returns the first order and changes nothing (channel adapters
        retry); for another customer it is ALREADY_EXISTS.
        """
        now = utc_now()
        order = validate_order(replace(draft, id=str(uuid.uuid4()), created_at=now), now=now)
        customer_id = order.customer_id
        async with self.new_uow() as uow:
            await visible_customer(uow, tenant_id, visibility, customer_id)
            # Lock the customer row first so concurrent orders add up (no lost totals).
            if not await uow.customers.lock(tenant_id, customer_id, now=now):
                raise NotFound(CUSTOMER, customer_name(customer_id))
            try:
                await uow.customers.add_order(order)
            except OrderTaken:
                first = await uow.customers.order_by_external_id(
                    tenant_id, order.store, order.external_id
                )
                if first is not None and first.customer_id == customer_id:
                    return first
                raise AlreadyExists(
                    ORDER,
                    f"{order.store}/{order.external_id}" if order.store else order.external_id,
                ) from None
            current = await visible_customer(uow, tenant_id, visibility, customer_id)
            totals = current.order_totals.after(order)
            await uow.customers.save_order_totals(tenant_id, customer_id, totals)
            name = order_name(customer_id, order.id)
            await record(
                uow.customers,
                uow.emit,
                current,
                OrderRecorded(
                    order,
                    order_count=totals.order_count,
                    order_value=totals.order_value or Money(order.amount.currency),
                ),
                summary=f"Order {order.external_id} ({_amount(order.amount)})"
                + (f" in {order.store}" if order.store else ""),
                actor=actor,
                details={
                    "order": name,
                    "external_id": order.external_id,
                    "store": order.store,
                    "amount": _amount(order.amount),
                },
            )
            await reassess_tier(uow, tenant_id, customer_id)
            await uow.commit()
        return order

    async def orders(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        start: datetime | None,
        end: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[Order]:
        """One customer's orders, or (customer_id "") those of every customer the caller sees."""
        async with self.new_uow() as uow:
            if customer_id:
                await visible_customer(uow, tenant_id, visibility, customer_id)
            return await uow.customers.orders(
                tenant_id,
                visibility,
                customer_id=customer_id,
                start=start,
                end=end,
                after=after,
                limit=limit,
            )


def _amount(money: Money) -> str:
    """``Money("EUR", 12, 500_000_000)`` -> ``"12.5 EUR"`` (for the timeline)."""
    sign = "-" if money.total_nanos < 0 else ""
    whole, frac = divmod(abs(money.total_nanos), 1_000_000_000)
    digits = f"{frac:09d}".rstrip("0")
    return f"{sign}{whole}{'.' + digits if digits else ''} {money.currency}"
