"""Importing members from a spreadsheet (xlsx or csv): preview, then commit.

Preview writes nothing. Commit writes the valid rows in ONE transaction, in
batches (members, their audit entries and their member.created events), so a
file of thousands of rows takes seconds. Imported members get no usable
password: an admin gives them one with SetMemberPassword.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.access import caller_access, compose_access
from identity.app.context import Actor, Clock, audit_entry, new_id
from identity.app.members import keep_an_admin, member_name
from identity.app.ports import UNUSABLE_PASSWORD, SheetReader, UnitOfWork
from identity.domain.authority import Access, beyond
from identity.domain.departments import DepartmentTree
from identity.domain.events import MemberCreated, MemberUpdated
from identity.domain.importing import (
    ImportContext,
    ImportPlan,
    PlannedMember,
    RowError,
    Sheet,
    column_map,
    plan_import,
)
from identity.domain.model import Member, Role, normalize_email

MAX_CONTENT_BYTES = 10 * 1024 * 1024
MAX_REPORTED_VIOLATIONS = 50
OPERATION = "members.import"


@dataclass(frozen=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class ImportService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    reader: SheetReader
    clock: Clock

    async def _read(self, content: bytes, file_format: str) -> Sheet:
        if not content:
            raise InvalidArgument.field("content", "must not be empty")
        if len(content) > MAX_CONTENT_BYTES:
            raise InvalidArgument.field("content", "the file is larger than 10 MiB")
        return await asyncio.to_thread(self.reader.read, content, file_format)

    async def _plan(
        self,
        uow: UnitOfWork,
        actor: Actor,
        sheet: Sheet,
        mappings: Sequence[tuple[str, str]],
        update_existing: bool,
    ) -> ImportPlan:
        tenant = actor.tenant_id
        columns = column_map(sheet.header, mappings)
        email_column = columns["email"]
        emails = [
            normalize_email(cells[email_column])
            for _, cells in sheet.rows
            if email_column < len(cells) and cells[email_column].strip()
        ]
        roles = await uow.roles.all(tenant)
        role_keys: dict[str, str] = {}
        for role in roles:
            role_keys.setdefault(role.display_name.casefold(), role.id)
        for role in roles:
            role_keys[role.id.casefold()] = role.id
        tree = DepartmentTree(await uow.organisation.department_tree(tenant))
        context = ImportContext(
            departments=tree.resolver(),
            roles=role_keys,
            grantable_roles=frozenset(r.id for r in roles if r.permissions <= actor.permissions),
            existing=await uow.members.owners(emails),
            tenant_id=tenant,
            update_existing=update_existing,
        )
        plan = plan_import(sheet, mappings, context)
        header_of = {target: sheet.header[i].strip() for target, i in columns.items()}
        return await self._within_reach(uow, actor, plan, {r.id: r for r in roles}, tree, header_of)

    async def _within_reach(
        self,
        uow: UnitOfWork,
        actor: Actor,
        plan: ImportPlan,
        roles: dict[str, Role],
        tree: DepartmentTree,
        header_of: dict[str, str],
    ) -> ImportPlan:
        """The rule of every action on a member (``identity.domain.authority``), row by row:
        an existing member the caller may not act on, or a member a row would make reach
        further than the caller (role, department), is an error of that row."""
        tenant = actor.tenant_id
        caller = await caller_access(uow, actor, self.clock())
        group_permissions: dict[str, frozenset[str]] = {}

        def access_of(member: Member, groups: list[frozenset[str]]) -> Access:
            return compose_access(member, roles.get(member.role), groups, tree=tree)

        kept: list[PlannedMember] = []
        errors = list(plan.errors)
        for row in plan.members:
            current = (
                await uow.members.get(tenant, row.existing_member_id)
                if row.existing_member_id
                else None
            )
            groups: list[frozenset[str]] = []
            if current is not None and current.groups:
                unknown = [g for g in current.groups if g not in group_permissions]
                if unknown:
                    for group in await uow.organisation.groups(tenant, unknown):
                        group_permissions[group.id] = group.permissions
                groups = [group_permissions[g] for g in current.groups if g in group_permissions]
            if current is not None and current.id != actor.member_id:
                problem = beyond(caller, access_of(current, groups))
                if problem is not None:
                    errors.append(
                        RowError(
                            row.row,
                            header_of.get("email", "email"),
                            f"you cannot change this member: {problem}",
                            row.email,
                        )
                    )
                    continue
            if current is not None:
                becoming = replace(
                    current,
                    role=row.role,
                    department_id=row.department_id or current.department_id,
                )
            else:  # "new": a member of their own, who will own records
                becoming = Member(
                    id="new",
                    tenant_id=tenant,
                    email=row.email,
                    display_name=row.display_name,
                    role=row.role,
                    created_at=self.clock(),
                    department_id=row.department_id,
                )
            problem = beyond(caller, access_of(becoming, groups))
            if problem is not None:
                column = "role" if "role" in header_of else "department"
                errors.append(
                    RowError(
                        row.row,
                        header_of.get(column, column),
                        f"with this role and department the member would reach further "
                        f"than you: {problem}",
                        row.role,
                    )
                )
                continue
            kept.append(row)
        if len(kept) == len(plan.members):
            return plan
        return ImportPlan(
            total_rows=plan.total_rows, members=kept, errors=sorted(errors, key=lambda e: e.row)
        )

    async def preview(
        self,
        actor: Actor,
        content: bytes,
        file_format: str,
        mappings: Sequence[tuple[str, str]],
        update_existing: bool = False,
    ) -> ImportPlan:
        sheet = await self._read(content, file_format)
        async with self.new_uow() as uow:
            return await self._plan(uow, actor, sheet, mappings, update_existing)

    async def commit(
        self,
        actor: Actor,
        content: bytes,
        file_format: str,
        mappings: Sequence[tuple[str, str]],
        *,
        skip_invalid_rows: bool,
        update_existing: bool,
        request_id: str = "",
    ) -> ImportResult:
        tenant = actor.tenant_id
        if request_id:
            async with self.new_uow() as uow:
                done = await uow.idempotency.get(tenant, OPERATION, request_id)
            if done is not None:
                return ImportResult(
                    created=int(done["created"]),
                    updated=int(done["updated"]),
                    skipped=int(done["skipped"]),
                    errors=[RowError(**e) for e in done["errors"]],
                )
        sheet = await self._read(content, file_format)
        async with self.new_uow() as uow:
            plan = await self._plan(uow, actor, sheet, mappings, update_existing)
            if plan.errors and not skip_invalid_rows:
                raise _rejected(plan)
            now = self.clock()
            created = [
                Member(
                    id=new_id(),
                    tenant_id=tenant,
                    email=row.email,
                    display_name=row.display_name,
                    role=row.role,
                    created_at=now,
                    phone=row.phone,
                    department_id=row.department_id,
                    languages=row.languages,
                    updated_at=now,
                    has_password=False,
                )
                for row in plan.members
                if not row.existing_member_id
            ]
            await uow.members.add_many(created, UNUSABLE_PASSWORD)
            updates = [row for row in plan.members if row.existing_member_id]
            updated: list[tuple[Member, Member, list[str]]] = []
            for row in updates:
                current = await uow.members.get(tenant, row.existing_member_id)
                if current is None:
                    continue
                changes: dict[str, Any] = {
                    "display_name": row.display_name,
                    "phone": row.phone,
                    "department_id": row.department_id or current.department_id,
                    "role": row.role,
                    "languages": row.languages or current.languages,
                }
                after = replace(current, **changes)
                changed = [k for k, v in changes.items() if getattr(current, k) != v]
                if not changed:
                    continue
                if "role" in changed:
                    await keep_an_admin(uow, tenant, current, "change the role of")
                updated.append(
                    (current, replace(after, updated_at=now, version=current.version + 1), changed)
                )
            await uow.members.update_many([after for _, after, _ in updated])
            entries = [
                audit_entry(actor, now, "members.create", member_name(m.id), after=m.snapshot())
                for m in created
            ]
            entries += [
                audit_entry(
                    actor,
                    now,
                    "members.update",
                    member_name(after.id),
                    before=before.snapshot(),
                    after=after.snapshot(),
                )
                for before, after, _ in updated
            ]
            result = ImportResult(
                created=len(created),
                updated=len(updated),
                skipped=plan.invalid_rows,
                errors=plan.errors,
            )
            entries.append(
                audit_entry(
                    actor,
                    now,
                    "members.import",
                    "members",
                    after={
                        "rows": plan.total_rows,
                        "created": result.created,
                        "updated": result.updated,
                        "skipped": result.skipped,
                    },
                )
            )
            await uow.audit.add_many(entries)
            for member in created:
                await uow.emit(tenant, MemberCreated(member))
            renamed = {"department_id": "department"}
            for _, after, changed in updated:
                await uow.emit(
                    tenant, MemberUpdated(after, tuple(renamed.get(c, c) for c in changed))
                )
            if request_id:
                await uow.idempotency.put(
                    tenant,
                    OPERATION,
                    request_id,
                    {
                        "created": result.created,
                        "updated": result.updated,
                        "skipped": result.skipped,
                        "errors": [e.__dict__ for e in result.errors[:1000]],
                    },
                    now,
                )
            await uow.commit()
        return result


def _rejected(plan: ImportPlan) -> InvalidArgument:
    violations = [
        FieldViolation(
            "content",
            f"row {e.row}" + (f", column {e.column!r}" if e.column else "") + f": {e.message}",
        )
        for e in plan.errors[:MAX_REPORTED_VIOLATIONS]
    ]
    return InvalidArgument(
        violations,
        f"{plan.invalid_rows} of {plan.total_rows} rows are invalid, so nothing was imported; "
        "fix them, or set skip_invalid_rows to import the valid rows "
        "(PreviewMemberImport lists every problem)",
        reason="IMPORT_HAS_INVALID_ROWS",
    )
