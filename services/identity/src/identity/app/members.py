"""Members: add, change, disable, remove; their passwords."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from crosstalk_common.api.etags import check_etag
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
)
from crosstalk_common.text_rules import normalized_identity
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.access import require_may_act_on
from identity.app.context import Actor, Clock, audit_entry, new_id
from identity.app.ports import (
    UNUSABLE_PASSWORD,
    EmailTaken,
    MemberFilter,
    PasswordHasher,
    UnitOfWork,
)
from identity.app.tenants import ADMIN_ROLE
from identity.domain.departments import DepartmentTree
from identity.domain.events import MemberCreated, MemberDeleted, MemberDisabled, MemberUpdated
from identity.domain.model import (
    SELF_SERVICE_FIELDS,
    Member,
    MemberState,
    normalize_email,
    validate_member,
)
from identity.domain.passwords import password_problem

RESOURCE = "crosstalk.io/Member"
DEFAULT_ROLE = "normal"
# Request field path -> Member attribute.
ATTRIBUTE_OF = {
    "email": "email",
    "display_name": "display_name",
    "phone": "phone",
    "department": "department_id",
    "role": "role",
    "languages": "languages",
    "groups": "groups",
    "time_zone": "time_zone",
    "capacity": "capacity",
    "availability": "availability",
}
# Fields whose change changes what the member may do or see.
ACCESS_FIELDS = frozenset({"role", "department", "groups"})


def member_name(member_id: str) -> str:
    return f"members/{member_id}"


def normalized(member: Member) -> Member:
    return replace(
        member,
        email=normalize_email(member.email),
        display_name=normalized_identity(member.display_name),
        phone=member.phone.strip(),
        languages=tuple(dict.fromkeys(code.strip() for code in member.languages)),
        groups=tuple(sorted(set(member.groups))),
        time_zone=member.time_zone.strip(),
    )


async def check_references(
    uow: UnitOfWork,
    actor: Actor,
    member: Member,
    *,
    prefix: str,
    fields: Sequence[str],
    previous: Member | None = None,
) -> None:
    """Role, department and groups must exist in the tenant, and be the caller's to grant."""
    problems: list[FieldViolation] = []
    tenant = actor.tenant_id
    if "role" in fields:
        role = await uow.roles.get(tenant, member.role) if member.role else None
        if role is None:
            problems.append(FieldViolation(f"{prefix}.role", "no such role in this tenant"))
        elif previous is None or previous.role != member.role:
            actor.require_grantable(role.permissions, f"the role roles/{role.id}")
    if (
        "department" in fields
        and member.department_id
        and await uow.organisation.get_department(tenant, member.department_id) is None
    ):
        problems.append(FieldViolation(f"{prefix}.department", "no such department in this tenant"))
    if "groups" in fields and member.groups:
        found = {g.id: g for g in await uow.organisation.groups(tenant, member.groups)}
        for i, group_id in enumerate(member.groups):
            if group_id not in found:
                problems.append(
                    FieldViolation(f"{prefix}.groups[{i}]", "no such group in this tenant")
                )
        before = set(previous.groups) if previous is not None else set()
        for group_id in member.groups:
            if group_id in found and group_id not in before:
                actor.require_grantable(found[group_id].permissions, f"the group groups/{group_id}")
    if problems:
        raise InvalidArgument(problems)


async def keep_an_admin(uow: UnitOfWork, tenant_id: str, member: Member, what: str) -> None:
    """The tenant must keep at least one active administrator."""
    if member.role != ADMIN_ROLE or not member.active:
        return
    others = await uow.members.count(
        tenant_id, role=ADMIN_ROLE, state=MemberState.ACTIVE, exclude=member.id
    )
    if others == 0:
        raise FailedPrecondition(
            [
                PreconditionViolation(
                    "LAST_ADMIN",
                    member_name(member.id),
                    f"cannot {what} the tenant's last active administrator; "
                    "make another member an administrator first",
                )
            ],
            reason="LAST_ADMIN",
        )


@dataclass(frozen=True)
class MemberService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    hasher: PasswordHasher
    clock: Clock

    async def _hash_new_password(
        self,
        tenant_id: str,
        password: str,
        field_name: str,
        *,
        email: str = "",
        member_id: str = "",
    ) -> str:
        """The hash of a password the policy allows for this member (by email or id)."""
        async with self.new_uow() as uow:
            settings = await uow.tenants.get_settings(tenant_id)
            if member_id and not email:
                member = await uow.members.get(tenant_id, member_id)
                email = member.email if member is not None else ""
        bad = password_problem(password, min_length=settings.min_password_length, email=email)
        if bad:
            raise InvalidArgument.field(field_name, bad)
        return await asyncio.to_thread(self.hasher.hash, password)

    async def create(
        self, actor: Actor, draft: Member, initial_password: str = "", request_id: str = ""
    ) -> Member:
        tenant = actor.tenant_id
        if request_id:
            async with self.new_uow() as uow:
                done = await uow.idempotency.get(tenant, "members.create", request_id)
            if done is not None:
                return await self.get(actor, str(done["member_id"]))
        now = self.clock()
        member = normalized(
            replace(
                draft,
                id=new_id(),
                tenant_id=tenant,
                role=draft.role or DEFAULT_ROLE,
                state=MemberState.ACTIVE,
                created_at=now,
                updated_at=now,
                last_login_at=None,
                version=1,
                has_password=bool(initial_password),
            )
        )
        validate_member(member)
        password_hash = UNUSABLE_PASSWORD
        if initial_password:
            password_hash = await self._hash_new_password(
                tenant, initial_password, "initial_password", email=member.email
            )
        async with self.new_uow() as uow:
            await check_references(
                uow, actor, member, prefix="member", fields=("role", "department", "groups")
            )
            await require_may_act_on(uow, actor, now, "create this member", None, becoming=member)
            try:
                await uow.members.add(member, password_hash)
            except EmailTaken as exc:
                raise AlreadyExists(
                    RESOURCE, member.email, message="this email is already registered"
                ) from exc
            await uow.members.set_groups(tenant, member.id, member.groups)
            await uow.audit.add(
                audit_entry(
                    actor, now, "members.create", member_name(member.id), after=member.snapshot()
                )
            )
            await uow.emit(tenant, MemberCreated(member))
            if request_id:
                await uow.idempotency.put(
                    tenant, "members.create", request_id, {"member_id": member.id}, now
                )
            await uow.commit()
        return member

    async def get(self, actor: Actor, member_id: str) -> Member:
        async with self.new_uow() as uow:
            member = await uow.members.get(actor.tenant_id, member_id)
        if member is None:
            raise NotFound(RESOURCE, member_name(member_id))
        return member

    async def page(
        self,
        actor: Actor,
        where: MemberFilter,
        *,
        include_sub_departments: bool,
        after: list[str],
        limit: int,
    ) -> list[Member]:
        async with self.new_uow() as uow:
            if where.department_ids and include_sub_departments:
                tree = DepartmentTree(await uow.organisation.department_tree(actor.tenant_id))
                ids = set(where.department_ids)
                for department_id in where.department_ids:
                    ids |= tree.descendants(department_id)
                where = replace(where, department_ids=frozenset(ids))
            return await uow.members.page(actor.tenant_id, where, after=after, limit=limit)

    async def update(
        self, actor: Actor, member_id: str, draft: Member, paths: Sequence[str], etag: str
    ) -> Member:
        tenant = actor.tenant_id
        name = member_name(member_id)
        if actor.member_id != member_id or not SELF_SERVICE_FIELDS.issuperset(paths):
            # A member changes their own profile, languages, capacity and
            # availability; anything else, or anyone else, takes members.manage.
            actor.require("members.manage")
        async with self.new_uow() as uow:
            current = await uow.members.get(tenant, member_id)
            if current is None:
                raise NotFound(RESOURCE, name)
            check_etag(etag, current.etag, name)
            await require_may_act_on(uow, actor, self.clock(), f"change {name}", current)
            changes: dict[str, Any] = {
                ATTRIBUTE_OF[p]: getattr(draft, ATTRIBUTE_OF[p]) for p in paths
            }
            candidate = normalized(replace(current, **changes))
            changed = [
                p
                for p in paths
                if getattr(candidate, ATTRIBUTE_OF[p]) != getattr(current, ATTRIBUTE_OF[p])
            ]
            if not changed:
                return current
            updated = replace(candidate, updated_at=self.clock(), version=current.version + 1)
            validate_member(updated)
            await check_references(
                uow, actor, updated, prefix="member", fields=changed, previous=current
            )
            if ACCESS_FIELDS.intersection(changed):
                await require_may_act_on(
                    uow, actor, self.clock(), f"change {name} like this", None, becoming=updated
                )
            if "role" in changed:
                await keep_an_admin(uow, tenant, current, "change the role of")
            try:
                saved = await uow.members.save(updated, expected_version=current.version)
            except EmailTaken as exc:
                raise AlreadyExists(
                    RESOURCE, updated.email, message="this email is already registered"
                ) from exc
            if not saved:
                raise Aborted.etag_mismatch(name)
            if "groups" in changed:
                await uow.members.set_groups(tenant, member_id, updated.groups)
            await uow.audit.add(
                audit_entry(
                    actor,
                    self.clock(),
                    "members.update",
                    name,
                    before=current.snapshot(),
                    after=updated.snapshot(),
                )
            )
            await uow.emit(tenant, MemberUpdated(updated, tuple(changed)))
            await uow.commit()
        return updated

    async def delete(self, actor: Actor, member_id: str, etag: str) -> None:
        tenant = actor.tenant_id
        name = member_name(member_id)
        async with self.new_uow() as uow:
            current = await uow.members.get(tenant, member_id)
            if current is None:
                raise NotFound(RESOURCE, name)
            await require_may_act_on(uow, actor, self.clock(), f"delete {name}", current)
            check_etag(etag, current.etag, name)
            _not_yourself(actor, member_id, "delete")
            await keep_an_admin(uow, tenant, current, "delete")
            await uow.organisation.clear_member_references(tenant, member_id)
            await uow.members.delete(tenant, member_id)
            await uow.audit.add(
                audit_entry(actor, self.clock(), "members.delete", name, before=current.snapshot())
            )
            await uow.emit(tenant, MemberDeleted(member_id=member_id, actor=actor.subject))
            await uow.commit()

    async def disable(self, actor: Actor, member_id: str, reason: str) -> Member:
        tenant = actor.tenant_id
        name = member_name(member_id)
        if len(reason) > 500:
            raise InvalidArgument.field("reason", "at most 500 characters")
        async with self.new_uow() as uow:
            current = await uow.members.get(tenant, member_id)
            if current is None:
                raise NotFound(RESOURCE, name)
            await require_may_act_on(uow, actor, self.clock(), f"disable {name}", current)
            if current.state is MemberState.DISABLED:
                return current
            _not_yourself(actor, member_id, "disable")
            await keep_an_admin(uow, tenant, current, "disable")
            now = self.clock()
            updated = replace(
                current, state=MemberState.DISABLED, updated_at=now, version=current.version + 1
            )
            if not await uow.members.save(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            await uow.auth.revoke_member_sessions(tenant, member_id, now, "member disabled")
            after = updated.snapshot() | {"reason": reason}
            await uow.audit.add(
                audit_entry(
                    actor, now, "members.disable", name, before=current.snapshot(), after=after
                )
            )
            await uow.emit(
                tenant,
                MemberDisabled(member_id=member_id, reason=reason, actor=actor.subject),
            )
            await uow.commit()
        return updated

    async def enable(self, actor: Actor, member_id: str) -> Member:
        tenant = actor.tenant_id
        name = member_name(member_id)
        async with self.new_uow() as uow:
            current = await uow.members.get(tenant, member_id)
            if current is None:
                raise NotFound(RESOURCE, name)
            await require_may_act_on(uow, actor, self.clock(), f"enable {name}", current)
            if current.state is MemberState.ACTIVE:
                return current
            now = self.clock()
            updated = replace(
                current, state=MemberState.ACTIVE, updated_at=now, version=current.version + 1
            )
            if not await uow.members.save(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            await uow.audit.add(
                audit_entry(
                    actor,
                    now,
                    "members.enable",
                    name,
                    before=current.snapshot(),
                    after=updated.snapshot(),
                )
            )
            await uow.emit(tenant, MemberUpdated(updated, ("state",)))
            await uow.commit()
        return updated

    async def set_password(self, actor: Actor, member_id: str, password: str) -> Member:
        tenant = actor.tenant_id
        name = member_name(member_id)
        password_hash = await self._hash_new_password(
            tenant, password, "password", member_id=member_id
        )
        async with self.new_uow() as uow:
            current = await uow.members.get(tenant, member_id)
            if current is None:
                raise NotFound(RESOURCE, name)
            now = self.clock()
            await require_may_act_on(uow, actor, now, f"set the password of {name}", current)
            await uow.members.set_password(tenant, member_id, password_hash)
            await uow.auth.revoke_member_sessions(tenant, member_id, now, "password changed")
            updated = replace(
                current, has_password=True, updated_at=now, version=current.version + 1
            )
            await uow.audit.add(
                audit_entry(
                    actor,
                    now,
                    "members.set_password",
                    name,
                    before={"has_password": current.has_password},
                    after={"has_password": True},
                )
            )
            await uow.commit()
        return updated


def _not_yourself(actor: Actor, member_id: str, what: str) -> None:
    if actor.member_id == member_id:
        raise FailedPrecondition(
            [PreconditionViolation("SELF", member_name(member_id), f"you cannot {what} yourself")],
            reason="SELF_ACTION",
        )
