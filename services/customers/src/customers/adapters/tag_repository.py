"""Tags and tag groups in SQL, always filtered by tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.db.keyset import past
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from customers.adapters.tables import customer_tags, customers, tag_groups, tags
from customers.app.ports import TagNameTaken
from customers.domain.model import Tag, TagGroup, TagGroupKind


def _group(r: Row[Any]) -> TagGroup:
    return TagGroup(
        id=r.id,
        tenant_id=r.tenant_id,
        display_name=r.display_name,
        kind=TagGroupKind(r.kind),
        exclusive=bool(r.exclusive),
        description=r.description,
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        version=r.version,
    )


def _tag(r: Row[Any]) -> Tag:
    return Tag(
        id=r.id,
        tenant_id=r.tenant_id,
        display_name=r.display_name,
        group_id=r.group_id,
        color=r.color,
        description=r.description,
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        version=r.version,
    )


def _after_name(table: Any, after: list[str]) -> list[ColumnElement[bool]]:
    if not after:
        return []
    return [past([table.c.display_name, table.c.id], after)]


# A few tags by key (every single write that tags asks), built once: in the
# event loop on SQLite (sqlite_one_trip).
_TAGS_BY_ID = in_the_loop(
    select(tags).where(
        tags.c.tenant_id == bindparam("tenant"), tags.c.id.in_(bindparam("ids", expanding=True))
    )
)

# Tags by display name (the unique key uq_tag_name_per_tenant), built once: a
# rule's few labels in the event loop on SQLite, a longer list (an import's)
# makes its trip.
_TAGS_BY_NAME = select(tags).where(
    tags.c.tenant_id == bindparam("tenant_id"),
    tags.c.display_name.in_(bindparam("names", expanding=True)),
)
_TAGS_BY_NAME_FEW = in_the_loop(_TAGS_BY_NAME)
_FEW_NAMES = 8


class SqlTagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _write(self, statement: Any) -> Any:
        try:
            async with self._session.begin_nested():
                return await self._session.execute(statement)
        except IntegrityError as exc:
            raise TagNameTaken(str(exc.orig)) from exc

    async def add_group(self, group: TagGroup) -> None:
        await self._write(insert(tag_groups).values(**_group_row(group)))

    async def get_group(self, tenant_id: str, group_id: str) -> TagGroup | None:
        found = await self.groups(tenant_id, {group_id})
        return found.get(group_id)

    async def find_group(self, tenant_id: str, display_name: str) -> TagGroup | None:
        row = (
            await self._session.execute(
                select(tag_groups).where(
                    tag_groups.c.tenant_id == tenant_id, tag_groups.c.display_name == display_name
                )
            )
        ).first()
        return None if row is None else _group(row)

    async def save_group(self, group: TagGroup, *, expected_version: int) -> bool:
        row = _group_row(group)
        del row["id"], row["tenant_id"], row["created_at"]
        result = await self._write(
            update(tag_groups)
            .where(
                tag_groups.c.tenant_id == group.tenant_id,
                tag_groups.c.id == group.id,
                tag_groups.c.version == expected_version,
            )
            .values(**row)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def delete_group(self, tenant_id: str, group_id: str) -> None:
        await self._session.execute(
            delete(tag_groups).where(
                tag_groups.c.tenant_id == tenant_id, tag_groups.c.id == group_id
            )
        )

    async def page_groups(
        self, tenant_id: str, *, kind: TagGroupKind | None, after: list[str], limit: int
    ) -> list[TagGroup]:
        where = [tag_groups.c.tenant_id == tenant_id, *_after_name(tag_groups, after)]
        if kind is not None:
            where.append(tag_groups.c.kind == kind.value)
        rows = await self._session.execute(
            select(tag_groups)
            .where(*where)
            .order_by(tag_groups.c.display_name, tag_groups.c.id)
            .limit(limit)
        )
        return [_group(r) for r in rows]

    async def groups(self, tenant_id: str, group_ids: set[str]) -> dict[str, TagGroup]:
        if not group_ids:
            return {}
        rows = await self._session.execute(
            in_the_loop(
                select(tag_groups).where(
                    tag_groups.c.tenant_id == tenant_id, tag_groups.c.id.in_(sorted(group_ids))
                )
            )
        )
        return {r.id: _group(r) for r in rows}

    async def count_in_group(self, tenant_id: str, group_id: str) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(tags)
            .where(tags.c.tenant_id == tenant_id, tags.c.group_id == group_id)
        )
        return int(count or 0)

    async def add_tag(self, tag: Tag) -> None:
        await self._write(insert(tags).values(**_tag_row(tag)))

    async def get_tag(self, tenant_id: str, tag_id: str) -> Tag | None:
        return (await self.tags(tenant_id, {tag_id})).get(tag_id)

    async def tags(self, tenant_id: str, tag_ids: set[str]) -> dict[str, Tag]:
        if not tag_ids:
            return {}
        rows = await self._session.execute(
            _TAGS_BY_ID, {"tenant": tenant_id, "ids": sorted(tag_ids)}
        )
        return {r.id: _tag(r) for r in rows}

    async def tags_by_display_name(self, tenant_id: str, names: set[str]) -> dict[str, Tag]:
        if not names:
            return {}
        statement = _TAGS_BY_NAME_FEW if len(names) <= _FEW_NAMES else _TAGS_BY_NAME
        rows = await self._session.execute(
            statement, {"tenant_id": tenant_id, "names": sorted(names)}
        )
        return {r.display_name: _tag(r) for r in rows}

    async def members(self, tenant_id: str, group_ids: set[str]) -> dict[str, frozenset[str]]:
        if not group_ids:
            return {}
        found: dict[str, set[str]] = {g: set() for g in group_ids}
        rows = await self._session.execute(
            in_the_loop(
                select(tags.c.id, tags.c.group_id).where(
                    tags.c.tenant_id == tenant_id, tags.c.group_id.in_(sorted(group_ids))
                )
            )
        )
        for r in rows:
            found[r.group_id].add(r.id)
        return {g: frozenset(ids) for g, ids in found.items()}

    async def save_tag(self, tag: Tag, *, expected_version: int) -> bool:
        row = _tag_row(tag)
        del row["id"], row["tenant_id"], row["created_at"]
        result = await self._write(
            update(tags)
            .where(
                tags.c.tenant_id == tag.tenant_id,
                tags.c.id == tag.id,
                tags.c.version == expected_version,
            )
            .values(**row)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def delete_tag(self, tenant_id: str, tag_id: str) -> list[str]:
        """Delete a tag and take it off every customer; returns those customers."""
        holders = list(
            (
                await self._session.scalars(
                    select(customer_tags.c.customer_id).where(
                        customer_tags.c.tenant_id == tenant_id, customer_tags.c.tag == tag_id
                    )
                )
            ).all()
        )
        if holders:
            await self._session.execute(
                delete(customer_tags).where(
                    customer_tags.c.tenant_id == tenant_id, customer_tags.c.tag == tag_id
                )
            )
            await self._session.execute(
                update(customers)
                .where(customers.c.tenant_id == tenant_id, customers.c.id.in_(holders))
                .values(version=customers.c.version + 1, updated_at=utc_now())
            )
        await self._session.execute(
            delete(tags).where(tags.c.tenant_id == tenant_id, tags.c.id == tag_id)
        )
        return sorted(holders)

    async def page_tags(
        self, tenant_id: str, *, group_id: str, after: list[str], limit: int
    ) -> list[Tag]:
        where = [tags.c.tenant_id == tenant_id, *_after_name(tags, after)]
        if group_id:
            where.append(tags.c.group_id == group_id)
        rows = await self._session.execute(
            select(tags).where(*where).order_by(tags.c.display_name, tags.c.id).limit(limit)
        )
        return [_tag(r) for r in rows]

    async def customer_counts(self, tenant_id: str, tag_ids: list[str]) -> dict[str, int]:
        if not tag_ids:
            return {}
        rows = await self._session.execute(
            select(customer_tags.c.tag, func.count())
            .where(customer_tags.c.tenant_id == tenant_id, customer_tags.c.tag.in_(tag_ids))
            .group_by(customer_tags.c.tag)
        )
        return {str(r[0]): int(r[1]) for r in rows}


def _group_row(group: TagGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "tenant_id": group.tenant_id,
        "display_name": group.display_name,
        "kind": group.kind.value,
        "exclusive": group.exclusive,
        "description": group.description,
        "version": group.version,
        "created_at": group.created_at,
        "updated_at": group.updated_at,
    }


def _tag_row(tag: Tag) -> dict[str, Any]:
    return {
        "id": tag.id,
        "tenant_id": tag.tenant_id,
        "display_name": tag.display_name,
        "group_id": tag.group_id,
        "color": tag.color,
        "description": tag.description,
        "version": tag.version,
        "created_at": tag.created_at,
        "updated_at": tag.updated_at,
    }
