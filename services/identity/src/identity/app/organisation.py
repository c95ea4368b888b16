"""Departments (a tree) and groups (teams across departments)."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
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
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.access import caller_access
from identity.app.context import Actor, Clock, audit_entry, new_id
from identity.app.ports import UnitOfWork
from identity.domain.authority import require_move_within
from identity.domain.departments import DepartmentTree
from identity.domain.events import MemberUpdated
from identity.domain.model import (
    Department,
    Group,
    GroupKind,
    validate_department,
    validate_group,
)

DEPARTMENT = "crosstalk.io/Department"
GROUP = "crosstalk.io/Group"
DEPARTMENT_ATTRIBUTE = {
    "display_name": "display_name",
    "parent": "parent_id",
    "manager": "manager_id",
    "sort_order": "sort_order",
}
GROUP_ATTRIBUTE = {
    "display_name": "display_name",
    "kind": "kind",
    "members": "member_ids",
    "leader": "leader_id",
    "permissions": "permissions",
}


def department_name(department_id: str) -> str:
    return f"departments/{department_id}"


def group_name(group_id: str) -> str:
    return f"groups/{group_id}"


@dataclass(frozen=True)
class DepartmentService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    clock: Clock

    async def _check(
        self, uow: UnitOfWork, actor: Actor, department: Department, fields: Sequence[str]
    ) -> None:
        tenant = actor.tenant_id
        validate_department(department)
        problems: list[FieldViolation] = []
        if "parent" in fields and department.parent_id:
            if await uow.organisation.get_department(tenant, department.parent_id) is None:
                problems.append(
                    FieldViolation("department.parent", "no such department in this tenant")
                )
            else:
                tree = DepartmentTree(await uow.organisation.department_tree(tenant))
                if tree.would_cycle(department.id, department.parent_id):
                    problems.append(
                        FieldViolation(
                            "department.parent",
                            "a department cannot move under itself or one of its sub-departments",
                        )
                    )
        if (
            "manager" in fields
            and department.manager_id
            and not await uow.members.existing_ids(tenant, [department.manager_id])
        ):
            problems.append(FieldViolation("department.manager", "no such member in this tenant"))
        if problems:
            raise InvalidArgument(problems)
        if (
            "display_name" in fields or "parent" in fields
        ) and await uow.organisation.sibling_named(
            tenant, department.parent_id, department.display_name, exclude=department.id
        ):
            raise AlreadyExists(
                DEPARTMENT,
                department.display_name,
                message="a department with this name already exists at this place in the tree",
            )

    async def create(self, actor: Actor, draft: Department) -> Department:
        now = self.clock()
        department = replace(
            draft,
            id=new_id(),
            tenant_id=actor.tenant_id,
            display_name=draft.display_name.strip(),
            created_at=now,
            updated_at=now,
            version=1,
            member_count=0,
        )
        async with self.new_uow() as uow:
            await self._check(uow, actor, department, ("display_name", "parent", "manager"))
            await uow.organisation.add_department(department)
            await uow.audit.add(
                audit_entry(
                    actor,
                    now,
                    "departments.create",
                    department_name(department.id),
                    after=department.snapshot(),
                )
            )
            await uow.commit()
        return department

    async def get(self, actor: Actor, department_id: str) -> Department:
        async with self.new_uow() as uow:
            found = await uow.organisation.get_department(actor.tenant_id, department_id)
        if found is None:
            raise NotFound(DEPARTMENT, department_name(department_id))
        return found

    async def page(
        self, actor: Actor, parent_id: str | None, *, after: list[str], limit: int
    ) -> list[Department]:
        async with self.new_uow() as uow:
            return await uow.organisation.page_departments(
                actor.tenant_id, parent_id, after=after, limit=limit
            )

    async def update(
        self, actor: Actor, department_id: str, draft: Department, paths: Sequence[str], etag: str
    ) -> Department:
        name = department_name(department_id)
        async with self.new_uow() as uow:
            current = await uow.organisation.get_department(actor.tenant_id, department_id)
            if current is None:
                raise NotFound(DEPARTMENT, name)
            check_etag(etag, current.etag, name)
            changes: dict[str, Any] = {
                DEPARTMENT_ATTRIBUTE[p]: getattr(draft, DEPARTMENT_ATTRIBUTE[p]) for p in paths
            }
            updated = replace(
                current,
                **changes,
                updated_at=self.clock(),
                version=current.version + 1,
            )
            updated = replace(updated, display_name=updated.display_name.strip())
            await self._check(uow, actor, updated, paths)
            if updated.parent_id != current.parent_id:
                caller = await caller_access(uow, actor, self.clock())
                require_move_within(caller, department_id, updated.parent_id)
            if not await uow.organisation.save_department(
                updated, expected_version=current.version
            ):
                raise Aborted.etag_mismatch(name)
            await uow.audit.add(
                audit_entry(
                    actor,
                    self.clock(),
                    "departments.update",
                    name,
                    before=current.snapshot(),
                    after=updated.snapshot(),
                )
            )
            await uow.commit()
        return updated

    async def delete(self, actor: Actor, department_id: str, etag: str) -> None:
        tenant = actor.tenant_id
        name = department_name(department_id)
        async with self.new_uow() as uow:
            current = await uow.organisation.get_department(tenant, department_id)
            if current is None:
                raise NotFound(DEPARTMENT, name)
            check_etag(etag, current.etag, name)
            problems: list[PreconditionViolation] = []
            children = await uow.organisation.child_count(tenant, department_id)
            if children:
                problems.append(
                    PreconditionViolation(
                        "DEPARTMENT_HAS_CHILDREN",
                        name,
                        f"the department has {children} sub-department(s); move or delete "
                        "them first",
                    )
                )
            members = await uow.members.count(tenant, department_id=department_id)
            if members:
                problems.append(
                    PreconditionViolation(
                        "DEPARTMENT_HAS_MEMBERS",
                        name,
                        f"the department has {members} member(s); move them to another "
                        "department first",
                    )
                )
            if problems:
                raise FailedPrecondition(problems, reason="DEPARTMENT_NOT_EMPTY")
            await uow.organisation.delete_department(tenant, department_id)
            await uow.audit.add(
                audit_entry(
                    actor, self.clock(), "departments.delete", name, before=current.snapshot()
                )
            )
            await uow.commit()


@dataclass(frozen=True)
class GroupService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    clock: Clock

    async def _check(
        self,
        uow: UnitOfWork,
        actor: Actor,
        group: Group,
        fields: Sequence[str],
        previous: Group | None = None,
    ) -> None:
        validate_group(group)
        if "members" in fields and group.member_ids:
            found = await uow.members.existing_ids(actor.tenant_id, group.member_ids)
            problems = [
                FieldViolation(f"group.members[{i}]", "no such member in this tenant")
                for i, member_id in enumerate(group.member_ids)
                if member_id not in found
            ]
            if problems:
                raise InvalidArgument(problems)
        before_members = set(previous.member_ids) if previous else set()
        before_permissions = previous.permissions if previous else frozenset()
        if group.permissions and (
            group.permissions - before_permissions or set(group.member_ids) - before_members
        ):
            actor.require_grantable(group.permissions, "these group permissions")

    async def create(self, actor: Actor, draft: Group) -> Group:
        now = self.clock()
        group = replace(
            draft,
            id=new_id(),
            tenant_id=actor.tenant_id,
            display_name=draft.display_name.strip(),
            member_ids=tuple(sorted(set(draft.member_ids))),
            created_at=now,
            updated_at=now,
            version=1,
        )
        async with self.new_uow() as uow:
            await self._check(uow, actor, group, ("members",))
            await uow.organisation.add_group(group)
            await uow.audit.add(
                audit_entry(
                    actor, now, "groups.create", group_name(group.id), after=group.snapshot()
                )
            )
            await self._members_changed(uow, actor, set(group.member_ids), {group.leader_id} - {""})
            await uow.commit()
        return group

    async def _members_changed(
        self,
        uow: UnitOfWork,
        actor: Actor,
        member_ids: set[str],
        leaders: AbstractSet[str] = frozenset(),
    ) -> None:
        """Tell the bus that these members' groups changed, and which groups
        these ``leaders`` (who became or stopped being a group's leader) lead."""
        for member_id in sorted(member_ids | leaders):
            member = await uow.members.get(actor.tenant_id, member_id)
            if member is None:
                continue
            changed: tuple[str, ...] = ("groups",) if member_id in member_ids else ()
            if member_id in leaders:
                changed += ("led_groups",)
            await uow.emit(actor.tenant_id, MemberUpdated(member, changed))

    async def get(self, actor: Actor, group_id: str) -> Group:
        async with self.new_uow() as uow:
            found = await uow.organisation.get_group(actor.tenant_id, group_id)
        if found is None:
            raise NotFound(GROUP, group_name(group_id))
        return found

    async def page(
        self,
        actor: Actor,
        *,
        kind: GroupKind | None,
        member_id: str,
        after: list[str],
        limit: int,
    ) -> list[Group]:
        async with self.new_uow() as uow:
            return await uow.organisation.page_groups(
                actor.tenant_id, kind=kind, member_id=member_id, after=after, limit=limit
            )

    async def update(
        self, actor: Actor, group_id: str, draft: Group, paths: Sequence[str], etag: str
    ) -> Group:
        name = group_name(group_id)
        async with self.new_uow() as uow:
            current = await uow.organisation.get_group(actor.tenant_id, group_id)
            if current is None:
                raise NotFound(GROUP, name)
            check_etag(etag, current.etag, name)
            changes: dict[str, Any] = {
                GROUP_ATTRIBUTE[p]: getattr(draft, GROUP_ATTRIBUTE[p]) for p in paths
            }
            updated = replace(
                current, **changes, updated_at=self.clock(), version=current.version + 1
            )
            updated = replace(
                updated,
                display_name=updated.display_name.strip(),
                member_ids=tuple(sorted(set(updated.member_ids))),
            )
            await self._check(uow, actor, updated, paths, previous=current)
            if not await uow.organisation.save_group(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            await uow.audit.add(
                audit_entry(
                    actor,
                    self.clock(),
                    "groups.update",
                    name,
                    before=current.snapshot(),
                    after=updated.snapshot(),
                )
            )
            leaders = (
                {current.leader_id, updated.leader_id} - {""}
                if current.leader_id != updated.leader_id
                else set()
            )
            await self._members_changed(
                uow, actor, set(current.member_ids) ^ set(updated.member_ids), leaders
            )
            await uow.commit()
        return updated

    async def delete(self, actor: Actor, group_id: str, etag: str) -> None:
        name = group_name(group_id)
        async with self.new_uow() as uow:
            current = await uow.organisation.get_group(actor.tenant_id, group_id)
            if current is None:
                raise NotFound(GROUP, name)
            check_etag(etag, current.etag, name)
            await uow.organisation.delete_group(actor.tenant_id, group_id)
            await uow.audit.add(
                audit_entry(actor, self.clock(), "groups.delete", name, before=current.snapshot())
            )
            await self._members_changed(
                uow, actor, set(current.member_ids), {current.leader_id} - {""}
            )
            await uow.commit()
