"""Tenants, members, roles, departments and groups in SQL, always filtered by tenant."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.permissions import BUILT_IN_ROLES, DataScope
from identity.adapters.sql import after_created, like_escaped, rowcount, utc
from identity.adapters.tables import (
    departments,
    group_members,
    groups,
    members,
    refresh_tokens,
    roles,
    sessions,
    tenant_settings,
    tenants,
)
from identity.app.ports import UNUSABLE_PASSWORD, EmailTaken, MemberFilter, NameTaken
from identity.domain.departments import TreeNode
from identity.domain.model import (
    Department,
    Group,
    GroupKind,
    Member,
    MemberAvailability,
    MemberState,
    Role,
    Tenant,
    TenantSettings,
)

_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class SqlTenantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_tenant(self, tenant: Tenant) -> None:
        await self._session.execute(
            insert(tenants).values(
                id=tenant.id,
                display_name=tenant.display_name,
                industry=tenant.industry,
                team_size=tenant.team_size,
                working_language=tenant.working_language,
                created_at=tenant.created_at,
            )
        )

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = (
            await self._session.execute(select(tenants).where(tenants.c.id == tenant_id))
        ).first()
        if row is None:
            return None
        return Tenant(
            id=row.id,
            display_name=row.display_name,
            industry=row.industry,
            team_size=row.team_size,
            working_language=row.working_language,
            created_at=as_utc(row.created_at),
        )

    async def get_settings(self, tenant_id: str) -> TenantSettings:
        row = (
            await self._session.execute(
                select(tenant_settings).where(tenant_settings.c.tenant_id == tenant_id)
            )
        ).first()
        if row is None:
            return TenantSettings(tenant_id=tenant_id)
        return TenantSettings(
            tenant_id=tenant_id,
            max_filter_conditions=row.max_filter_conditions,
            include_sub_departments=row.include_sub_departments,
            default_time_zone=row.default_time_zone,
            access_token_ttl_seconds=row.access_token_ttl_seconds,
            refresh_token_ttl_seconds=row.refresh_token_ttl_seconds,
            min_password_length=row.min_password_length,
            dormancy_period_seconds=row.dormancy_period_seconds,
            updated_at=as_utc(row.updated_at),
            version=row.version,
        )

    async def save_settings(self, settings: TenantSettings, *, expected_version: int) -> bool:
        values = {
            "max_filter_conditions": settings.max_filter_conditions,
            "include_sub_departments": settings.include_sub_departments,
            "default_time_zone": settings.default_time_zone,
            "access_token_ttl_seconds": settings.access_token_ttl_seconds,
            "refresh_token_ttl_seconds": settings.refresh_token_ttl_seconds,
            "min_password_length": settings.min_password_length,
            "dormancy_period_seconds": settings.dormancy_period_seconds,
            "updated_at": settings.updated_at,
            "version": settings.version,
        }
        if expected_version == 0:
            try:
                async with self._session.begin_nested():
                    await self._session.execute(
                        insert(tenant_settings).values(tenant_id=settings.tenant_id, **values)
                    )
            except IntegrityError:
                return False  # created concurrently
            return True
        result = await self._session.execute(
            update(tenant_settings)
            .where(
                tenant_settings.c.tenant_id == settings.tenant_id,
                tenant_settings.c.version == expected_version,
            )
            .values(**values)
        )
        return rowcount(result) == 1


def _role(row: Row[Any]) -> Role:
    permissions = frozenset(str(p) for p in row.permissions)
    scope = DataScope(row.data_scope)
    display_name, description = row.display_name, row.description
    template = BUILT_IN_ROLES.get(row.id) if row.built_in else None
    if template is not None:
        # Built-in roles follow the platform's templates (and its catalogue).
        permissions, scope = template.permissions, template.data_scope
        display_name, description = template.display_name, template.description
    return Role(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=display_name,
        description=description,
        permissions=permissions,
        data_scope=scope,
        include_sub_departments=row.include_sub_departments,
        built_in=row.built_in,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        version=row.version,
    )


def _role_values(role: Role) -> dict[str, Any]:
    return {
        "display_name": role.display_name,
        "description": role.description,
        "permissions": sorted(role.permissions),
        "data_scope": role.data_scope.value,
        "include_sub_departments": role.include_sub_departments,
        "built_in": role.built_in,
        "updated_at": role.updated_at,
        "version": role.version,
    }


class SqlRoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, role: Role) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(roles).values(
                        tenant_id=role.tenant_id,
                        id=role.id,
                        created_at=role.created_at,
                        **_role_values(role),
                    )
                )
        except IntegrityError as exc:
            raise NameTaken(role.display_name) from exc

    async def get(self, tenant_id: str, role_id: str) -> Role | None:
        row = (
            await self._session.execute(
                select(roles).where(roles.c.tenant_id == tenant_id, roles.c.id == role_id)
            )
        ).first()
        return None if row is None else _role(row)

    async def all(self, tenant_id: str) -> list[Role]:
        rows = await self._session.execute(
            select(roles).where(roles.c.tenant_id == tenant_id).order_by(roles.c.created_at)
        )
        return [_role(r) for r in rows]

    async def save(self, role: Role, *, expected_version: int) -> bool:
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    update(roles)
                    .where(
                        roles.c.tenant_id == role.tenant_id,
                        roles.c.id == role.id,
                        roles.c.version == expected_version,
                    )
                    .values(**_role_values(role))
                )
        except IntegrityError as exc:
            raise NameTaken(role.display_name) from exc
        return rowcount(result) == 1

    async def delete(self, tenant_id: str, role_id: str) -> None:
        await self._session.execute(
            delete(roles).where(roles.c.tenant_id == tenant_id, roles.c.id == role_id)
        )

    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[Role]:
        where: list[ColumnElement[bool]] = [roles.c.tenant_id == tenant_id]
        keyset = after_created(roles.c.created_at, roles.c.id, after)
        if keyset is not None:
            where.append(keyset)
        rows = await self._session.execute(
            select(roles).where(*where).order_by(roles.c.created_at, roles.c.id).limit(limit)
        )
        return [_role(r) for r in rows]


def _member(row: Row[Any], group_ids: Sequence[str]) -> Member:
    return Member(
        id=row.id,
        tenant_id=row.tenant_id,
        email=row.email,
        display_name=row.display_name,
        role=row.role_id,
        created_at=as_utc(row.created_at),
        phone=row.phone,
        department_id=row.department_id or "",
        languages=tuple(str(code) for code in row.languages),
        state=MemberState(row.state),
        time_zone=row.time_zone,
        groups=tuple(sorted(group_ids)),
        updated_at=utc(row.updated_at),
        last_login_at=utc(row.last_login_at),
        version=row.version,
        has_password=row.password_hash != UNUSABLE_PASSWORD,
        capacity=int(row.capacity),
        availability=MemberAvailability(row.availability),
    )


def _member_values(member: Member) -> dict[str, Any]:
    return {
        "email": member.email,
        "display_name": member.display_name,
        "role_id": member.role,
        "phone": member.phone,
        "department_id": member.department_id or None,
        "languages": list(member.languages),
        "state": member.state.value,
        "time_zone": member.time_zone,
        "updated_at": member.updated_at or member.created_at,
        "version": member.version,
        "capacity": member.capacity,
        "availability": member.availability.value,
    }


_MEMBER_COLUMNS = [c for c in members.c if c.name != "password_hash"] + [members.c.password_hash]


class SqlMemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, member: Member, password_hash: str) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(members).values(
                        id=member.id,
                        tenant_id=member.tenant_id,
                        created_at=member.created_at,
                        password_hash=password_hash,
                        **_member_values(member),
                    )
                )
        except IntegrityError as exc:
            raise EmailTaken(member.email) from exc

    async def add_many(self, new: Sequence[Member], password_hash: str) -> None:
        rows = [
            {
                "id": m.id,
                "tenant_id": m.tenant_id,
                "created_at": m.created_at,
                "password_hash": password_hash,
                **_member_values(m),
            }
            for m in new
        ]
        for chunk in _chunks(rows, 1000):
            try:
                async with self._session.begin_nested():
                    await self._session.execute(insert(members), list(chunk))
            except IntegrityError as exc:
                raise EmailTaken("one of the imported emails") from exc

    async def _load(
        self, where: Sequence[ColumnElement[bool]], *, limit: int | None = None
    ) -> list[Member]:
        query = select(*_MEMBER_COLUMNS).where(*where).order_by(members.c.created_at, members.c.id)
        if limit is not None:
            query = query.limit(limit)
        rows = (await self._session.execute(query)).all()
        if not rows:
            return []
        group_ids: dict[str, list[str]] = defaultdict(list)
        for chunk in _chunks([r.id for r in rows]):
            for link in await self._session.execute(
                select(group_members.c.member_id, group_members.c.group_id).where(
                    group_members.c.member_id.in_(chunk)
                )
            ):
                group_ids[link.member_id].append(link.group_id)
        return [_member(r, group_ids[r.id]) for r in rows]

    async def get(self, tenant_id: str, member_id: str) -> Member | None:
        found = await self._load(
            [members.c.tenant_id == tenant_id, members.c.id == member_id], limit=1
        )
        return found[0] if found else None

    async def credentials(self, email: str) -> tuple[Member, str] | None:
        found = await self._load([members.c.email == email], limit=1)
        if not found:
            return None
        stored = await self._session.scalar(
            select(members.c.password_hash).where(members.c.id == found[0].id)
        )
        return found[0], str(stored)

    async def save(self, member: Member, *, expected_version: int) -> bool:
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    update(members)
                    .where(
                        members.c.tenant_id == member.tenant_id,
                        members.c.id == member.id,
                        members.c.version == expected_version,
                    )
                    .values(**_member_values(member))
                )
        except IntegrityError as exc:
            raise EmailTaken(member.email) from exc
        return rowcount(result) == 1

    async def update_many(self, changed: Sequence[Member]) -> None:
        for member in changed:
            await self._session.execute(
                update(members)
                .where(members.c.tenant_id == member.tenant_id, members.c.id == member.id)
                .values(**_member_values(member))
            )

    async def set_groups(self, tenant_id: str, member_id: str, group_ids: Sequence[str]) -> None:
        await self._session.execute(
            delete(group_members).where(group_members.c.member_id == member_id)
        )
        if group_ids:
            await self._session.execute(
                insert(group_members),
                [
                    {"group_id": g, "member_id": member_id, "tenant_id": tenant_id}
                    for g in group_ids
                ],
            )

    async def set_password(self, tenant_id: str, member_id: str, password_hash: str) -> None:
        await self._session.execute(
            update(members)
            .where(members.c.tenant_id == tenant_id, members.c.id == member_id)
            .values(password_hash=password_hash, version=members.c.version + 1)
        )

    async def record_login(self, member_id: str, now: datetime) -> None:
        await self._session.execute(
            update(members).where(members.c.id == member_id).values(last_login_at=now)
        )

    async def delete(self, tenant_id: str, member_id: str) -> None:
        await self._session.execute(
            delete(group_members).where(group_members.c.member_id == member_id)
        )
        # Sessions and their refresh tokens go with the member (spelled out rather
        # than left to ON DELETE CASCADE, which SQLite applies only when asked).
        session_ids = select(sessions.c.id).where(sessions.c.member_id == member_id)
        await self._session.execute(
            delete(refresh_tokens).where(refresh_tokens.c.session_id.in_(session_ids))
        )
        await self._session.execute(delete(sessions).where(sessions.c.member_id == member_id))
        await self._session.execute(
            delete(members).where(members.c.tenant_id == tenant_id, members.c.id == member_id)
        )

    async def page(
        self, tenant_id: str, where: MemberFilter, *, after: list[str], limit: int
    ) -> list[Member]:
        clauses: list[ColumnElement[bool]] = [members.c.tenant_id == tenant_id]
        if where.department_ids is not None:
            clauses.append(members.c.department_id.in_(sorted(where.department_ids)))
        if where.group_id:
            clauses.append(
                members.c.id.in_(
                    select(group_members.c.member_id).where(
                        group_members.c.group_id == where.group_id,
                        group_members.c.tenant_id == tenant_id,
                    )
                )
            )
        if where.role:
            clauses.append(members.c.role_id == where.role)
        if where.state is not None:
            clauses.append(members.c.state == where.state.value)
        if where.query:
            pattern = like_escaped(where.query.casefold())
            clauses.append(
                or_(
                    func.lower(members.c.display_name).like(pattern, escape="\\"),
                    members.c.email.like(pattern, escape="\\"),
                )
            )
        keyset = after_created(members.c.created_at, members.c.id, after)
        if keyset is not None:
            clauses.append(keyset)
        return await self._load(clauses, limit=limit)

    async def owners(self, emails: Sequence[str]) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        unique = sorted(set(emails))
        for chunk in _chunks(unique):
            for row in await self._session.execute(
                select(members.c.email, members.c.tenant_id, members.c.id).where(
                    members.c.email.in_(chunk)
                )
            ):
                found[row.email] = (row.tenant_id, row.id)
        return found

    async def existing_ids(self, tenant_id: str, member_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(set(member_ids))):
            found |= set(
                (
                    await self._session.scalars(
                        select(members.c.id).where(
                            members.c.tenant_id == tenant_id, members.c.id.in_(chunk)
                        )
                    )
                ).all()
            )
        return found

    async def count(
        self,
        tenant_id: str,
        *,
        role: str = "",
        department_id: str = "",
        state: MemberState | None = None,
        exclude: str = "",
    ) -> int:
        clauses: list[ColumnElement[bool]] = [members.c.tenant_id == tenant_id]
        if role:
            clauses.append(members.c.role_id == role)
        if department_id:
            clauses.append(members.c.department_id == department_id)
        if state is not None:
            clauses.append(members.c.state == state.value)
        if exclude:
            clauses.append(members.c.id != exclude)
        total = await self._session.scalar(
            select(func.count()).select_from(members).where(*clauses)
        )
        return int(total or 0)


def _department(row: Row[Any], member_count: int = 0) -> Department:
    return Department(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.display_name,
        parent_id=row.parent_id or "",
        manager_id=row.manager_id or "",
        sort_order=row.sort_order,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        version=row.version,
        member_count=member_count,
    )


def _department_values(department: Department) -> dict[str, Any]:
    return {
        "display_name": department.display_name,
        "parent_id": department.parent_id or None,
        "manager_id": department.manager_id or None,
        "sort_order": department.sort_order,
        "updated_at": department.updated_at,
        "version": department.version,
    }


def _group_values(group: Group) -> dict[str, Any]:
    return {
        "display_name": group.display_name,
        "kind": group.kind.value,
        "leader_id": group.leader_id or None,
        "permissions": sorted(group.permissions),
        "updated_at": group.updated_at,
        "version": group.version,
    }


class SqlOrganisationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- departments ---------------------------------------------------------

    async def add_department(self, department: Department) -> None:
        await self._session.execute(
            insert(departments).values(
                id=department.id,
                tenant_id=department.tenant_id,
                created_at=department.created_at,
                **_department_values(department),
            )
        )

    async def _member_counts(self, tenant_id: str, ids: Sequence[str]) -> dict[str, int]:
        if not ids:
            return {}
        rows = await self._session.execute(
            select(members.c.department_id, func.count())
            .where(members.c.tenant_id == tenant_id, members.c.department_id.in_(list(ids)))
            .group_by(members.c.department_id)
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def get_department(self, tenant_id: str, department_id: str) -> Department | None:
        row = (
            await self._session.execute(
                select(departments).where(
                    departments.c.tenant_id == tenant_id, departments.c.id == department_id
                )
            )
        ).first()
        if row is None:
            return None
        counts = await self._member_counts(tenant_id, [row.id])
        return _department(row, counts.get(row.id, 0))

    async def save_department(self, department: Department, *, expected_version: int) -> bool:
        result = await self._session.execute(
            update(departments)
            .where(
                departments.c.tenant_id == department.tenant_id,
                departments.c.id == department.id,
                departments.c.version == expected_version,
            )
            .values(**_department_values(department))
        )
        return rowcount(result) == 1

    async def delete_department(self, tenant_id: str, department_id: str) -> None:
        await self._session.execute(
            delete(departments).where(
                departments.c.tenant_id == tenant_id, departments.c.id == department_id
            )
        )

    async def page_departments(
        self, tenant_id: str, parent_id: str | None, *, after: list[str], limit: int
    ) -> list[Department]:
        clauses: list[ColumnElement[bool]] = [departments.c.tenant_id == tenant_id]
        if parent_id is not None:
            clauses.append(departments.c.parent_id == parent_id)
        if after:
            sort_order, last_id = int(after[0]), after[1]
            clauses.append(
                past([departments.c.sort_order, departments.c.id], [sort_order, last_id])
            )
        rows = (
            await self._session.execute(
                select(departments)
                .where(*clauses)
                .order_by(departments.c.sort_order, departments.c.id)
                .limit(limit)
            )
        ).all()
        counts = await self._member_counts(tenant_id, [r.id for r in rows])
        return [_department(r, counts.get(r.id, 0)) for r in rows]

    async def department_tree(self, tenant_id: str) -> list[TreeNode]:
        rows = await self._session.execute(
            select(departments.c.id, departments.c.parent_id, departments.c.display_name).where(
                departments.c.tenant_id == tenant_id
            )
        )
        return [TreeNode(r.id, r.parent_id or "", r.display_name) for r in rows]

    async def sibling_named(
        self, tenant_id: str, parent_id: str, display_name: str, *, exclude: str = ""
    ) -> bool:
        parent = (
            departments.c.parent_id == parent_id if parent_id else departments.c.parent_id.is_(None)
        )
        found = await self._session.scalar(
            select(departments.c.id)
            .where(
                departments.c.tenant_id == tenant_id,
                parent,
                func.lower(departments.c.display_name) == display_name.casefold(),
                departments.c.id != exclude,
            )
            .limit(1)
        )
        return found is not None

    async def child_count(self, tenant_id: str, department_id: str) -> int:
        total = await self._session.scalar(
            select(func.count())
            .select_from(departments)
            .where(departments.c.tenant_id == tenant_id, departments.c.parent_id == department_id)
        )
        return int(total or 0)

    async def clear_member_references(self, tenant_id: str, member_id: str) -> None:
        await self._session.execute(
            update(departments)
            .where(departments.c.tenant_id == tenant_id, departments.c.manager_id == member_id)
            .values(manager_id=None, version=departments.c.version + 1)
        )
        await self._session.execute(
            update(groups)
            .where(groups.c.tenant_id == tenant_id, groups.c.leader_id == member_id)
            .values(leader_id=None, version=groups.c.version + 1)
        )

    # --- groups --------------------------------------------------------------

    async def _groups(
        self, where: Sequence[ColumnElement[bool]], *, limit: int | None = None
    ) -> list[Group]:
        query = select(groups).where(*where).order_by(groups.c.created_at, groups.c.id)
        if limit is not None:
            query = query.limit(limit)
        rows = (await self._session.execute(query)).all()
        member_ids: dict[str, list[str]] = defaultdict(list)
        for chunk in _chunks([r.id for r in rows]):
            for link in await self._session.execute(
                select(group_members.c.group_id, group_members.c.member_id).where(
                    group_members.c.group_id.in_(chunk)
                )
            ):
                member_ids[link.group_id].append(link.member_id)
        return [
            Group(
                id=r.id,
                tenant_id=r.tenant_id,
                display_name=r.display_name,
                kind=GroupKind(r.kind),
                member_ids=tuple(sorted(member_ids[r.id])),
                leader_id=r.leader_id or "",
                permissions=frozenset(str(p) for p in r.permissions),
                created_at=as_utc(r.created_at),
                updated_at=as_utc(r.updated_at),
                version=r.version,
            )
            for r in rows
        ]

    async def _set_members(self, group: Group) -> None:
        await self._session.execute(
            delete(group_members).where(group_members.c.group_id == group.id)
        )
        if group.member_ids:
            await self._session.execute(
                insert(group_members),
                [
                    {"group_id": group.id, "member_id": m, "tenant_id": group.tenant_id}
                    for m in group.member_ids
                ],
            )

    async def add_group(self, group: Group) -> None:
        await self._session.execute(
            insert(groups).values(
                id=group.id,
                tenant_id=group.tenant_id,
                created_at=group.created_at,
                **_group_values(group),
            )
        )
        await self._set_members(group)

    async def get_group(self, tenant_id: str, group_id: str) -> Group | None:
        found = await self._groups(
            [groups.c.tenant_id == tenant_id, groups.c.id == group_id], limit=1
        )
        return found[0] if found else None

    async def save_group(self, group: Group, *, expected_version: int) -> bool:
        result = await self._session.execute(
            update(groups)
            .where(
                groups.c.tenant_id == group.tenant_id,
                groups.c.id == group.id,
                groups.c.version == expected_version,
            )
            .values(**_group_values(group))
        )
        if rowcount(result) != 1:
            return False
        await self._set_members(group)
        return True

    async def delete_group(self, tenant_id: str, group_id: str) -> None:
        await self._session.execute(
            delete(group_members).where(group_members.c.group_id == group_id)
        )
        await self._session.execute(
            delete(groups).where(groups.c.tenant_id == tenant_id, groups.c.id == group_id)
        )

    async def page_groups(
        self,
        tenant_id: str,
        *,
        kind: GroupKind | None,
        member_id: str,
        after: list[str],
        limit: int,
    ) -> list[Group]:
        clauses: list[ColumnElement[bool]] = [groups.c.tenant_id == tenant_id]
        if kind is not None:
            clauses.append(groups.c.kind == kind.value)
        if member_id:
            clauses.append(
                groups.c.id.in_(
                    select(group_members.c.group_id).where(group_members.c.member_id == member_id)
                )
            )
        keyset = after_created(groups.c.created_at, groups.c.id, after)
        if keyset is not None:
            clauses.append(keyset)
        return await self._groups(clauses, limit=limit)

    async def groups(self, tenant_id: str, group_ids: Sequence[str]) -> list[Group]:
        if not group_ids:
            return []
        return await self._groups(
            [groups.c.tenant_id == tenant_id, groups.c.id.in_(sorted(set(group_ids)))]
        )

    async def groups_led_by(self, tenant_id: str, member_id: str) -> tuple[str, ...]:
        """Ids of the groups the member leads, sorted."""
        rows = await self._session.scalars(
            select(groups.c.id)
            .where(groups.c.tenant_id == tenant_id, groups.c.leader_id == member_id)
            .order_by(groups.c.id)
        )
        return tuple(str(r) for r in rows)
