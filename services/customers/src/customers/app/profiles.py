"""A customer's profile: CreateCustomer, GetCustomer, UpdateCustomer, DeleteCustomer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Protocol

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import AlreadyExists, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.conflicts import ChangedMeanwhile, retried_when_changed_meanwhile
from customers.app.lookup import visible_customer
from customers.app.ports import UnitOfWork
from customers.app.timeline import record
from customers.domain.events import CustomerCreated, CustomerDeleted, CustomerUpdated
from customers.domain.model import Customer, validate_custom_fields, validate_profile
from customers.domain.names import CUSTOMER, customer_name


class OneCustomerRead(Protocol):
    """The customer, if ``visibility`` lets its holder see it (in ``tenant_id``);
    read without a unit of work."""

    async def __call__(
        self, tenant_id: str, visibility: Visibility, customer_id: str
    ) -> Customer | None: ...


@dataclass(frozen=True)
class CustomerProfiles:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    # GetCustomer's read on a connection of its own (adapters/one_customer_reads);
    # without one it reads in a unit of work.
    read_one: OneCustomerRead | None = None

    async def create(self, draft: Customer, *, actor: str = "system") -> Customer:
        now = utc_now()
        customer = replace(
            _normalized(draft), id=str(uuid.uuid4()), created_at=now, updated_at=now, version=1
        )
        validate_profile(customer)
        async with self.new_uow() as uow:
            customer = replace(
                customer,
                custom_fields=validate_custom_fields(
                    customer.custom_fields, await uow.fields.by_key(customer.tenant_id)
                ),
            )
            await _refuse_taken_identities(uow, customer)
            await uow.customers.add(customer)
            await record_created(uow, customer, actor)
            await uow.commit()
        return customer

    async def get(self, tenant_id: str, visibility: Visibility, customer_id: str) -> Customer:
        if self.read_one is None:
            async with self.new_uow() as uow:
                return await visible_customer(uow, tenant_id, visibility, customer_id)
        customer = await self.read_one(tenant_id, visibility, customer_id)
        if customer is None:
            raise NotFound(CUSTOMER, customer_name(customer_id))
        return customer

    @retried_when_changed_meanwhile
    async def update(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        changes: dict[str, object],
        etag: str,
        *,
        actor: str = "system",
    ) -> Customer:
        async with self.new_uow() as uow:
            current = await visible_customer(uow, tenant_id, visibility, customer_id)
            check_etag(etag, current.etag, customer_name(customer_id))
            updated = _normalized(
                replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            )
            validate_profile(updated)
            if "custom_fields" in changes:
                updated = replace(
                    updated,
                    custom_fields=validate_custom_fields(
                        updated.custom_fields, await uow.fields.by_key(tenant_id)
                    ),
                )
            if "identities" in changes:
                await _refuse_taken_identities(uow, updated, except_id=customer_id)
            if not await uow.customers.save(updated, expected_version=current.version):
                raise ChangedMeanwhile()
            await record(
                uow.customers,
                uow.emit,
                updated,
                CustomerUpdated(customer_id, tuple(sorted(changes)), actor),
                summary="Updated " + ", ".join(sorted(changes)),
                actor=actor,
                details={"changed_fields": sorted(changes)},
            )
            await uow.commit()
        return updated

    async def delete(self, tenant_id: str, visibility: Visibility, customer_id: str) -> None:
        async with self.new_uow() as uow:
            if not await uow.customers.delete(tenant_id, customer_id, visibility):
                raise NotFound(CUSTOMER, customer_name(customer_id))
            await uow.emit(tenant_id, CustomerDeleted(customer_id))
            await uow.commit()


async def record_created(uow: UnitOfWork, customer: Customer, actor: str) -> None:
    """customer.created and the timeline's first row (CreateCustomer, ResolveIdentity)."""
    await record(
        uow.customers,
        uow.emit,
        customer,
        CustomerCreated(customer),
        summary=f"Created {customer.display_name}",
        actor=actor,
    )


def _normalized(customer: Customer) -> Customer:
    return replace(
        customer,
        display_name=customer.display_name.strip(),
        emails=tuple(e.strip().lower() for e in customer.emails),
        identities=tuple(i.normalized() for i in customer.identities),
    )


async def _refuse_taken_identities(
    uow: UnitOfWork, customer: Customer, *, except_id: str = ""
) -> None:
    taken = await uow.customers.identities_taken(
        customer.tenant_id, customer.identities, except_id=except_id
    )
    if taken:
        first = taken[0]
        raise AlreadyExists(
            "crosstalk.io/ChannelIdentity",
            f"{first.channel.value}:{first.store}:{first.external_id}",
            message="a channel identity of this customer already belongs to another customer",
        )
