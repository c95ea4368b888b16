"""The identity unit of work over SQLAlchemy."""

from __future__ import annotations

from dataclasses import replace
from typing import Self

from google.protobuf.message import Message

from crosstalk_common.bus.causation import Causation
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from identity.adapters.auth_repository import (
    SqlApiKeyRepository,
    SqlAuditRepository,
    SqlAuthRepository,
    SqlIdempotencyRepository,
)
from identity.adapters.mapping import event_pb
from identity.adapters.repository import (
    SqlMemberRepository,
    SqlOrganisationRepository,
    SqlRoleRepository,
    SqlTenantRepository,
)
from identity.domain.events import IdentityEvent, MemberCreated, MemberUpdated


class IdentityUnitOfWork(SqlUnitOfWork):
    tenants: SqlTenantRepository
    members: SqlMemberRepository
    organisation: SqlOrganisationRepository
    roles: SqlRoleRepository
    auth: SqlAuthRepository
    api_keys: SqlApiKeyRepository
    audit: SqlAuditRepository
    idempotency: SqlIdempotencyRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        session = self.session
        self.tenants = SqlTenantRepository(session)
        self.members = SqlMemberRepository(session)
        self.organisation = SqlOrganisationRepository(session)
        self.roles = SqlRoleRepository(session)
        self.auth = SqlAuthRepository(session)
        self.api_keys = SqlApiKeyRepository(session)
        self.audit = SqlAuditRepository(session)
        self.idempotency = SqlIdempotencyRepository(session)
        return self

    async def emit(
        self,
        tenant_id: str,
        payload: Message | IdentityEvent,
        *,
        causation: Causation | None = None,
    ) -> str:
        """Stage an event; an IdentityEvent is staged as its proto. member.created
        and member.updated say which groups the member leads as of now (after
        the unit of work's writes so far)."""
        if isinstance(payload, (MemberCreated, MemberUpdated)):
            led = await self.organisation.groups_led_by(tenant_id, payload.member.id)
            payload = replace(payload, led_group_ids=led)
        return await super().emit(tenant_id, event_pb(payload), causation=causation)
