"""The audit log: written by every admin use case in its transaction, and by
other services' admin events (record_audit_entry); read by AuditService."""

from __future__ import annotations

from dataclasses import dataclass

from crosstalk_common.errors import InvalidArgument
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.context import Actor
from identity.app.ports import UnitOfWork
from identity.domain.model import AuditEntry, AuditFilter


@dataclass(frozen=True)
class AuditService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def page(
        self, actor: Actor, where: AuditFilter, *, after: list[str], limit: int
    ) -> list[AuditEntry]:
        if "*" in where.action[:-1]:
            raise InvalidArgument.field("action", "'*' may only end the action, as in 'members.*'")
        if where.start_time and where.end_time and where.start_time >= where.end_time:
            raise InvalidArgument.field("end_time", "must be after start_time")
        async with self.new_uow() as uow:
            return await uow.audit.page(actor.tenant_id, where, after=after, limit=limit)


async def record_audit_entry(new_uow: UnitOfWorkFactory[UnitOfWork], entry: AuditEntry) -> None:
    """Records what another service reports an admin did (customer.merged, ...)."""
    async with new_uow() as uow:
        await uow.audit.add(entry)
        await uow.commit()
