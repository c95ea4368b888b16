"""ResolveIdentity: the customer behind a channel identity, created on first contact."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from crosstalk_common.clock import utc_now
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import Aborted, FieldViolation, InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.ports import IdentityTaken, UnitOfWork
from customers.app.profiles import record_created
from customers.domain.model import (
    ChannelIdentity,
    Customer,
    is_language,
    validate_identity,
)


@dataclass(frozen=True)
class IdentityResolution:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def resolve_identity(
        self,
        tenant_id: str,
        visibility: Visibility,
        identity: ChannelIdentity,
        display_name: str,
        language: str = "",
    ) -> tuple[Customer, bool]:
        """The customer owning an identity, created on first contact (with ``language``).

        Like every read, inside the caller's data scope: an identity held by a
        customer the caller may not see answers NOT_FOUND (ADR 0006), and no
        second customer is created for it.
        """
        identity = identity.normalized()
        problems = validate_identity(identity, prefix="identity")
        language = language.strip()
        if language and not is_language(language):
            problems.append(
                FieldViolation("language", "must be a BCP-47 code such as 'en' or 'pt-BR'")
            )
        if problems:
            raise InvalidArgument(problems)
        async with self.new_uow() as uow:
            # One lookup by the identity's unique key says whether it is held at all;
            # the holder is then read inside the caller's scope.
            owner = await uow.customers.identity_owner(tenant_id, identity)
            if owner is not None:
                return await _visible_owner(uow, tenant_id, visibility, identity, owner), False
            now = utc_now()
            customer = Customer(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                display_name=(display_name.strip() or identity.external_id)[:200],
                emails=(identity.external_id,) if identity.channel is Channel.EMAIL else (),
                language=language,
                identities=(identity,),
                created_at=now,
                updated_at=now,
            )
            try:
                await uow.customers.add(customer)
                await record_created(uow, customer, "system")
                await uow.commit()
                return customer, True
            except IdentityTaken:
                pass  # created concurrently by another request: read theirs
        async with self.new_uow() as uow:
            owner = await uow.customers.identity_owner(tenant_id, identity)
            if owner is None:
                raise Aborted("the identity was claimed concurrently; try again")
            return await _visible_owner(uow, tenant_id, visibility, identity, owner), False


async def _visible_owner(
    uow: UnitOfWork, tenant_id: str, visibility: Visibility, identity: ChannelIdentity, owner: str
) -> Customer:
    """The customer holding the identity; NOT_FOUND if the caller may not see them
    (or they are gone: the identity's row goes with the customer's)."""
    found = await uow.customers.get(tenant_id, owner, visibility)
    if found is None:
        raise _identity_out_of_scope(identity)
    return found


def _identity_out_of_scope(identity: ChannelIdentity) -> NotFound:
    """What a caller learns of a customer outside its data scope: nothing more
    than of one that does not exist (the answer names the identity it sent)."""
    key = f"{identity.channel.value}:{identity.store}:{identity.external_id}"
    return NotFound(
        "crosstalk.io/ChannelIdentity",
        key,
        message="no customer in your data scope holds this channel identity",
    )
