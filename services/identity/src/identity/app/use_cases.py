"""Identity use cases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from crosstalk.events.v1 import identity_events_pb2
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import AlreadyExists, NotFound
from identity.app.ports import EmailTaken, PasswordHasher, UnitOfWork
from identity.domain.model import Member, SignUp, Tenant

ADMIN_ROLE = "roles/admin"


@dataclass(frozen=True)
class IdentityService:
    new_uow: Callable[[], UnitOfWork]
    hasher: PasswordHasher

    async def sign_up(self, request: SignUp) -> tuple[Tenant, Member]:
        request.validate()
        now = utc_now()
        tenant = Tenant(
            id=str(uuid.uuid4()),
            display_name=request.company_name.strip(),
            industry=request.industry.strip(),
            team_size=request.team_size,
            working_language=request.working_language,
            created_at=now,
        )
        admin = Member(
            id=str(uuid.uuid4()),
            tenant_id=tenant.id,
            email=request.admin_email.strip().lower(),
            display_name=request.admin_display_name.strip(),
            role=ADMIN_ROLE,
            created_at=now,
        )
        password_hash = self.hasher.hash(request.admin_password)
        async with self.new_uow() as uow:
            await uow.identity.add_tenant(tenant)
            try:
                await uow.identity.add_member(admin, password_hash)
            except EmailTaken as exc:
                raise AlreadyExists(
                    "crosstalk.io/Member", admin.email, message="this email is already registered"
                ) from exc
            await uow.emit(
                tenant.id,
                identity_events_pb2.TenantCreated(
                    tenant=f"tenants/{tenant.id}",
                    display_name=tenant.display_name,
                    industry=tenant.industry,
                    working_language=tenant.working_language,
                    admin_member=f"members/{admin.id}",
                ),
            )
            await uow.emit(
                tenant.id,
                identity_events_pb2.MemberCreated(
                    member=f"members/{admin.id}",
                    email=admin.email,
                    display_name=admin.display_name,
                    role=admin.role,
                ),
            )
            await uow.commit()
        return tenant, admin

    async def get_tenant(self, caller_tenant_id: str, tenant_id: str) -> Tenant:
        # A caller sees its own tenant only; any other id does not exist for it.
        tenant = None
        if tenant_id == caller_tenant_id:
            async with self.new_uow() as uow:
                tenant = await uow.identity.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("crosstalk.io/Tenant", f"tenants/{tenant_id}")
        return tenant
