"""Roles (built-in templates and custom ones), the permission catalogue, checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from crosstalk_common.api.etags import check_etag
from crosstalk_common.api.resource_names import optional_resource_id, resource_id
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
)
from crosstalk_common.permissions import CATALOGUE, DataScope, Permission
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.access import Access, caller_access, member_access, role_access
from identity.app.context import Actor, Clock, audit_entry, new_id
from identity.app.ports import NameTaken, UnitOfWork
from identity.domain.authority import require_not_own_role, require_role_within
from identity.domain.events import RoleChanged
from identity.domain.model import Role, validate_role

RESOURCE = "crosstalk.io/Role"
ROLE_ATTRIBUTE = {
    "display_name": "display_name",
    "description": "description",
    "permissions": "permissions",
    "data_scope": "data_scope",
    "include_sub_departments": "include_sub_departments",
}


def role_name(role_id: str) -> str:
    return f"roles/{role_id}"


def _built_in(role: Role, what: str) -> FailedPrecondition:
    return FailedPrecondition(
        [
            PreconditionViolation(
                "BUILT_IN_ROLE",
                role_name(role.id),
                f"built-in roles cannot be {what}; create a custom role instead",
            )
        ],
        reason="BUILT_IN_ROLE",
    )


@dataclass(frozen=True)
class CheckResult:
    allowed: bool
    data_scope: DataScope | None
    reason: str = ""


@dataclass(frozen=True)
class RoleService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    clock: Clock

    async def create(self, actor: Actor, draft: Role, requested_permissions: list[str]) -> Role:
        now = self.clock()
        role = replace(
            draft,
            id=new_id(),
            tenant_id=actor.tenant_id,
            display_name=draft.display_name.strip(),
            built_in=False,
            created_at=now,
            updated_at=now,
            version=1,
        )
        validate_role(role, requested_permissions)
        actor.require_grantable(role.permissions, "these permissions")
        async with self.new_uow() as uow:
            caller = await caller_access(uow, actor, now)
            require_role_within(caller, role, "create this role")
            try:
                await uow.roles.add(role)
            except NameTaken as exc:
                raise AlreadyExists(
                    RESOURCE, role.display_name, message="a role with this name already exists"
                ) from exc
            await uow.audit.add(
                audit_entry(actor, now, "roles.create", role_name(role.id), after=role.snapshot())
            )
            await uow.emit(actor.tenant_id, RoleChanged(role, actor.subject))
            await uow.commit()
        return role

    async def get(self, actor: Actor, role_id: str) -> Role:
        async with self.new_uow() as uow:
            found = await uow.roles.get(actor.tenant_id, role_id)
        if found is None:
            raise NotFound(RESOURCE, role_name(role_id))
        return found

    async def page(self, actor: Actor, *, after: list[str], limit: int) -> list[Role]:
        async with self.new_uow() as uow:
            return await uow.roles.page(actor.tenant_id, after=after, limit=limit)

    async def update(
        self,
        actor: Actor,
        role_id: str,
        draft: Role,
        requested_permissions: list[str],
        paths: Sequence[str],
        etag: str,
    ) -> Role:
        name = role_name(role_id)
        async with self.new_uow() as uow:
            current = await uow.roles.get(actor.tenant_id, role_id)
            if current is None:
                raise NotFound(RESOURCE, name)
            if current.built_in:
                raise _built_in(current, "changed")
            caller = await caller_access(uow, actor, self.clock())
            require_not_own_role(caller, role_id, f"change {name}")
            require_role_within(caller, current, f"change {name}")
            check_etag(etag, current.etag, name)
            changes: dict[str, Any] = {
                ROLE_ATTRIBUTE[p]: getattr(draft, ROLE_ATTRIBUTE[p]) for p in paths
            }
            updated = replace(
                current, **changes, updated_at=self.clock(), version=current.version + 1
            )
            updated = replace(updated, display_name=updated.display_name.strip())
            validate_role(updated, requested_permissions if "permissions" in paths else [])
            actor.require_grantable(updated.permissions - current.permissions, "these permissions")
            require_role_within(caller, updated, f"change {name} like this")
            try:
                saved = await uow.roles.save(updated, expected_version=current.version)
            except NameTaken as exc:
                raise AlreadyExists(
                    RESOURCE, updated.display_name, message="a role with this name already exists"
                ) from exc
            if not saved:
                raise Aborted.etag_mismatch(name)
            await uow.audit.add(
                audit_entry(
                    actor,
                    self.clock(),
                    "roles.update",
                    name,
                    before=current.snapshot(),
                    after=updated.snapshot(),
                )
            )
            await uow.emit(actor.tenant_id, RoleChanged(updated, actor.subject))
            await uow.commit()
        return updated

    async def delete(self, actor: Actor, role_id: str, etag: str) -> None:
        name = role_name(role_id)
        tenant = actor.tenant_id
        async with self.new_uow() as uow:
            current = await uow.roles.get(tenant, role_id)
            if current is None:
                raise NotFound(RESOURCE, name)
            if current.built_in:
                raise _built_in(current, "deleted")
            caller = await caller_access(uow, actor, self.clock())
            require_not_own_role(caller, role_id, f"delete {name}")
            require_role_within(caller, current, f"delete {name}")
            check_etag(etag, current.etag, name)
            problems: list[PreconditionViolation] = []
            members = await uow.members.count(tenant, role=role_id)
            if members:
                problems.append(
                    PreconditionViolation(
                        "ROLE_IN_USE",
                        name,
                        f"{members} member(s) hold this role; give them another first",
                    )
                )
            keys = await uow.api_keys.count_with_role(tenant, role_id, active_at=self.clock())
            if keys:
                problems.append(
                    PreconditionViolation(
                        "ROLE_IN_USE",
                        name,
                        f"{keys} active API key(s) hold this role; revoke them first",
                    )
                )
            if problems:
                raise FailedPrecondition(problems, reason="ROLE_IN_USE")
            await uow.roles.delete(tenant, role_id)
            await uow.audit.add(
                audit_entry(actor, self.clock(), "roles.delete", name, before=current.snapshot())
            )
            await uow.emit(tenant, RoleChanged(current, actor.subject, deleted=True))
            await uow.commit()

    @staticmethod
    def permissions(service: str = "") -> list[Permission]:
        return sorted(
            (p for p in CATALOGUE.values() if not service or p.service == service),
            key=lambda p: p.id,
        )

    async def check(
        self, actor: Actor, principal: str, permission: str, target_owner: str
    ) -> CheckResult:
        if permission not in CATALOGUE:
            raise InvalidArgument.field(
                "permission", f"{permission!r} is not a permission (see ListPermissions)"
            )
        principal = principal or actor.subject
        if principal != actor.subject:
            actor.require("members.read")
        owner_id = optional_resource_id(target_owner, "members", field="target_owner")
        tenant = actor.tenant_id
        async with self.new_uow() as uow:
            if principal.startswith("members/"):
                member_id = resource_id(principal, "members", field="principal")
                member = await uow.members.get(tenant, member_id)
                if member is None:
                    raise NotFound("crosstalk.io/Member", principal)
                access = await member_access(uow, member)
                if not member.active:
                    return CheckResult(False, access.data_scope, "the member is disabled")
            elif principal.startswith("apiKeys/"):
                key_id = resource_id(principal, "apiKeys", field="principal")
                key = await uow.api_keys.get(tenant, key_id)
                if key is None:
                    raise NotFound("crosstalk.io/ApiKey", principal)
                access = role_access(await uow.roles.get(tenant, key.role))
                state = key.state(self.clock())
                if state.value != "active":
                    return CheckResult(False, access.data_scope, f"the API key is {state.value}")
            else:
                raise InvalidArgument(
                    [FieldViolation("principal", "must look like 'members/{id}' or 'apiKeys/{id}'")]
                )
            if permission not in access.permissions:
                return CheckResult(
                    False,
                    access.data_scope,
                    f"{principal} lacks the permission {permission!r}: its role (and groups) "
                    "do not grant it",
                )
            if owner_id:
                reason = await self._outside_scope(uow, tenant, principal, access, owner_id)
                if reason:
                    return CheckResult(False, access.data_scope, reason)
        return CheckResult(True, access.data_scope)

    @staticmethod
    async def _outside_scope(
        uow: UnitOfWork, tenant: str, principal: str, access: Access, owner_id: str
    ) -> str:
        if access.data_scope is DataScope.ALL:
            return ""
        if access.data_scope is DataScope.OWN:
            if principal == f"members/{owner_id}":
                return ""
            return "the record belongs to another member and the data scope is OWN"
        owner = await uow.members.get(tenant, owner_id)
        if (
            owner is not None
            and owner.department_id
            and (owner.department_id in access.visible_departments)
        ):
            return ""
        return "the record's owner is outside the departments the data scope covers"
