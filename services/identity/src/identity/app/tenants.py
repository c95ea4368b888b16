"""Sign-up, the tenant and its settings."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, replace
from typing import Any

from crosstalk_common.api.etags import check_etag
from crosstalk_common.errors import Aborted, AlreadyExists, NotFound
from crosstalk_common.permissions import BUILT_IN_ROLES
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.context import NO_ORIGIN, Actor, Clock, Origin, audit_entry, new_id
from identity.app.ports import EmailTaken, PasswordHasher, UnitOfWork
from identity.domain.events import (
    MemberCreated,
    RoleChanged,
    TenantCreated,
    TenantSettingsChanged,
)
from identity.domain.lockout import DEFAULT_LOCKOUT, LockoutPolicy
from identity.domain.model import (
    DEFAULT_LIFETIMES,
    Member,
    Role,
    SignUp,
    Tenant,
    TenantSettings,
    TokenLifetimes,
    normalize_email,
)

ADMIN_ROLE = "admin"
SETTINGS_RESOURCE = "crosstalk.io/TenantSettings"


def settings_snapshot(settings: TenantSettings) -> dict[str, Any]:
    data = dataclasses.asdict(settings)
    for key in ("tenant_id", "updated_at", "version"):
        data.pop(key)
    return data


@dataclass(frozen=True)
class TenantService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    hasher: PasswordHasher
    clock: Clock
    lifetimes: TokenLifetimes = DEFAULT_LIFETIMES
    lockout: LockoutPolicy = DEFAULT_LOCKOUT

    async def sign_up(self, request: SignUp, origin: Origin = NO_ORIGIN) -> tuple[Tenant, Member]:
        request.validate()
        now = self.clock()
        tenant = Tenant(
            id=new_id(),
            display_name=request.company_name.strip(),
            industry=request.industry.strip(),
            team_size=request.team_size,
            working_language=request.working_language,
            created_at=now,
        )
        admin = Member(
            id=new_id(),
            tenant_id=tenant.id,
            email=normalize_email(request.admin_email),
            display_name=request.admin_display_name.strip(),
            role=ADMIN_ROLE,
            created_at=now,
            updated_at=now,
        )
        password_hash = await asyncio.to_thread(self.hasher.hash, request.admin_password)
        settings = TenantSettings(tenant_id=tenant.id, updated_at=now, version=1)
        actor = Actor(tenant.id, f"members/{admin.id}", frozenset(), origin=origin)
        async with self.new_uow() as uow:
            await uow.tenants.add_tenant(tenant)
            await uow.tenants.save_settings(settings, expected_version=0)
            for template in BUILT_IN_ROLES.values():
                await uow.roles.add(
                    Role(
                        id=template.id,
                        tenant_id=tenant.id,
                        display_name=template.display_name,
                        description=template.description,
                        permissions=template.permissions,
                        data_scope=template.data_scope,
                        # No role says otherwise: the tenant's default applies.
                        include_sub_departments=settings.include_sub_departments,
                        built_in=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
            try:
                await uow.members.add(admin, password_hash)
            except EmailTaken as exc:
                raise AlreadyExists(
                    "crosstalk.io/Member", admin.email, message="this email is already registered"
                ) from exc
            await uow.audit.add(
                audit_entry(
                    actor,
                    now,
                    "tenants.sign_up",
                    f"tenants/{tenant.id}",
                    after={
                        "display_name": tenant.display_name,
                        "industry": tenant.industry,
                        "team_size": tenant.team_size,
                        "working_language": tenant.working_language,
                        "admin": {"name": f"members/{admin.id}", **admin.snapshot()},
                    },
                )
            )
            await uow.emit(tenant.id, TenantCreated(tenant, admin_member_id=admin.id))
            await uow.emit(tenant.id, MemberCreated(admin))
            await uow.commit()
        return tenant, admin

    async def get_tenant(self, caller_tenant_id: str, tenant_id: str) -> Tenant:
        # A caller sees its own tenant only; any other id does not exist for it.
        tenant = None
        if tenant_id == caller_tenant_id:
            async with self.new_uow() as uow:
                tenant = await uow.tenants.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("crosstalk.io/Tenant", f"tenants/{tenant_id}")
        return tenant

    async def get_settings(self, actor: Actor, tenant_id: str) -> TenantSettings:
        if tenant_id != actor.tenant_id:
            raise NotFound(SETTINGS_RESOURCE, f"tenants/{tenant_id}/settings")
        async with self.new_uow() as uow:
            return await uow.tenants.get_settings(tenant_id)

    async def update_settings(
        self, actor: Actor, tenant_id: str, changes: dict[str, Any], etag: str
    ) -> TenantSettings:
        name = f"tenants/{tenant_id}/settings"
        if tenant_id != actor.tenant_id:
            raise NotFound(SETTINGS_RESOURCE, name)
        async with self.new_uow() as uow:
            current = await uow.tenants.get_settings(tenant_id)
            check_etag(etag, current.etag, name)
            updated = replace(
                current, **changes, updated_at=self.clock(), version=current.version + 1
            )
            updated.validate(self.lifetimes)
            if not await uow.tenants.save_settings(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            if "include_sub_departments" in changes:
                await self._built_in_roles_follow(uow, actor, updated.include_sub_departments)
            await uow.audit.add(
                audit_entry(
                    actor,
                    self.clock(),
                    "tenant_settings.update",
                    name,
                    before=settings_snapshot(current),
                    after=settings_snapshot(updated),
                )
            )
            await uow.emit(
                tenant_id,
                TenantSettingsChanged(
                    tenant_id=tenant_id,
                    changed_fields=tuple(changes),
                    max_filter_conditions=updated.max_filter_conditions,
                    actor=actor.subject,
                ),
            )
            await uow.commit()
        return updated

    async def _built_in_roles_follow(
        self, uow: UnitOfWork, actor: Actor, include_sub_departments: bool
    ) -> None:
        """Built-in roles cannot be edited, so the tenant's default is the one way to set
        whether they reach sub-departments: they take each new value of it (custom
        roles keep their own)."""
        now = self.clock()
        for role in await uow.roles.all(actor.tenant_id):
            if not role.built_in or role.include_sub_departments == include_sub_departments:
                continue
            updated = replace(
                role,
                include_sub_departments=include_sub_departments,
                updated_at=now,
                version=role.version + 1,
            )
            if not await uow.roles.save(updated, expected_version=role.version):
                raise Aborted.etag_mismatch(f"roles/{role.id}")
            await uow.audit.add(
                audit_entry(
                    actor,
                    now,
                    "roles.update",
                    f"roles/{role.id}",
                    before=role.snapshot(),
                    after=updated.snapshot(),
                )
            )
            await uow.emit(actor.tenant_id, RoleChanged(updated, actor.subject))
