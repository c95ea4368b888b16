"""Customer use cases: each runs in one unit of work (rows and events together)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from crosstalk.common.v1 import channel_pb2
from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Node
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from crosstalk_common.visibility import Visibility
from customers.app.ports import IdentityTaken, UnitOfWork
from customers.domain.model import (
    Channel,
    ChannelIdentity,
    Customer,
    validate_identity,
    validate_profile,
)

RESOURCE = "crosstalk.io/Customer"

UowFactory = Callable[[], UnitOfWork]


def customer_name(customer_id: str) -> str:
    return f"customers/{customer_id}"


def _identity_pb(identity: ChannelIdentity) -> channel_pb2.ChannelIdentity:
    return channel_pb2.ChannelIdentity(
        channel=channel_pb2.Channel.Value(f"CHANNEL_{identity.channel.name}"),
        external_id=identity.external_id,
        store=identity.store,
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


@dataclass(frozen=True)
class CustomerService:
    new_uow: UowFactory

    async def create(self, draft: Customer) -> Customer:
        now = utc_now()
        customer = replace(
            _normalized(draft), id=str(uuid.uuid4()), created_at=now, updated_at=now, version=1
        )
        validate_profile(customer)
        async with self.new_uow() as uow:
            await _refuse_taken_identities(uow, customer)
            await uow.customers.add(customer)
            await uow.emit(customer.tenant_id, _created_event(customer))
            await uow.commit()
        return customer

    async def get(self, tenant_id: str, visibility: Visibility, customer_id: str) -> Customer:
        async with self.new_uow() as uow:
            customer = await uow.customers.get(tenant_id, customer_id, visibility)
        if customer is None:
            raise NotFound(RESOURCE, customer_name(customer_id))
        return customer

    async def update(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        changes: dict[str, object],
        etag: str,
    ) -> Customer:
        async with self.new_uow() as uow:
            current = await uow.customers.get(tenant_id, customer_id, visibility)
            if current is None:
                raise NotFound(RESOURCE, customer_name(customer_id))
            if etag and etag != current.etag:
                raise Aborted(
                    f"customer changed since it was read (etag {etag}, now {current.etag})"
                )
            updated = _normalized(
                replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            )
            validate_profile(updated)
            if "identities" in changes:
                await _refuse_taken_identities(uow, updated, except_id=customer_id)
            if not await uow.customers.save(updated, expected_version=current.version):
                raise Aborted("customer changed while it was being updated; read it again")
            await uow.emit(
                tenant_id,
                customer_events_pb2.CustomerUpdated(
                    customer=customer_name(customer_id), changed_fields=sorted(changes)
                ),
            )
            await uow.commit()
        return updated

    async def delete(self, tenant_id: str, visibility: Visibility, customer_id: str) -> None:
        async with self.new_uow() as uow:
            if not await uow.customers.delete(tenant_id, customer_id, visibility):
                raise NotFound(RESOURCE, customer_name(customer_id))
            await uow.emit(
                tenant_id,
                customer_events_pb2.CustomerDeleted(customer=customer_name(customer_id)),
            )
            await uow.commit()

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

    async def resolve_identity(
        self, tenant_id: str, identity: ChannelIdentity, display_name: str
    ) -> tuple[Customer, bool]:
        """The customer owning an identity, created on first contact."""
        identity = identity.normalized()
        problems = validate_identity(identity, prefix="identity")
        if problems:
            raise InvalidArgument(problems)
        async with self.new_uow() as uow:
            found = await uow.customers.find_by_identity(tenant_id, identity)
            if found is not None:
                return found, False
            now = utc_now()
            customer = Customer(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                display_name=(display_name.strip() or identity.external_id)[:200],
                emails=(identity.external_id,) if identity.channel is Channel.EMAIL else (),
                identities=(identity,),
                created_at=now,
                updated_at=now,
            )
            try:
                await uow.customers.add(customer)
                await uow.emit(tenant_id, _created_event(customer))
                await uow.commit()
                return customer, True
            except IdentityTaken:
                pass  # created concurrently by another request: read theirs
        async with self.new_uow() as uow:
            found = await uow.customers.find_by_identity(tenant_id, identity)
        if found is None:
            raise Aborted("the identity was claimed concurrently; try again")
        return found, False


def _created_event(customer: Customer) -> customer_events_pb2.CustomerCreated:
    return customer_events_pb2.CustomerCreated(
        customer=customer_name(customer.id),
        display_name=customer.display_name,
        identities=[_identity_pb(i) for i in customer.identities],
    )


def parse_customer_name(name: str, *, field: str = "name") -> str:
    prefix = "customers/"
    if not name.startswith(prefix) or len(name) == len(prefix) or "/" in name[len(prefix) :]:
        raise InvalidArgument([FieldViolation(field, "must look like 'customers/{customer}'")])
    return name[len(prefix) :]
