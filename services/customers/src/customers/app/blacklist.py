"""BlacklistCustomer and UnblacklistCustomer on one customer (bulk ones are jobs)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.conflicts import ChangedMeanwhile, retried_when_changed_meanwhile
from customers.app.lookup import visible_customer
from customers.app.ports import UnitOfWork
from customers.app.timeline import record
from customers.domain.events import CustomerBlacklisted, CustomerUpdated
from customers.domain.model import Customer, validate_reason


@dataclass(frozen=True)
class Blacklist:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    @retried_when_changed_meanwhile
    async def blacklist(
        self, tenant_id: str, visibility: Visibility, customer_id: str, reason: str, *, actor: str
    ) -> Customer:
        reason = validate_reason(reason, field_name="reason", required=True)
        async with self.new_uow() as uow:
            current = await visible_customer(uow, tenant_id, visibility, customer_id)
            now = utc_now()
            updated = replace(
                current,
                blacklisted=True,
                blacklist_reason=reason,
                blacklist_time=current.blacklist_time if current.blacklisted else now,
                updated_at=now,
                version=current.version + 1,
            )
            if not await uow.customers.save(updated, expected_version=current.version):
                raise ChangedMeanwhile()
            await record(
                uow.customers,
                uow.emit,
                updated,
                CustomerBlacklisted(customer_id, reason=reason, actor=actor),
                summary=f"Blacklisted: {reason}",
                actor=actor,
                details={"reason": reason},
            )
            await uow.commit()
        return updated

    @retried_when_changed_meanwhile
    async def unblacklist(
        self, tenant_id: str, visibility: Visibility, customer_id: str, *, actor: str
    ) -> Customer:
        async with self.new_uow() as uow:
            current = await visible_customer(uow, tenant_id, visibility, customer_id)
            if not current.blacklisted:
                return current
            updated = replace(
                current,
                blacklisted=False,
                blacklist_reason="",
                blacklist_time=None,
                updated_at=utc_now(),
                version=current.version + 1,
            )
            if not await uow.customers.save(updated, expected_version=current.version):
                raise ChangedMeanwhile()
            # The event catalogue has no customer.unblacklisted: it is an update.
            await record(
                uow.customers,
                uow.emit,
                updated,
                CustomerUpdated(
                    customer_id,
                    changed_fields=("blacklisted", "blacklist_reason", "blacklist_time"),
                    actor=actor,
                ),
                summary="Taken off the blacklist",
                actor=actor,
                details={"changed_fields": ["blacklisted"]},
            )
            await uow.commit()
        return updated
