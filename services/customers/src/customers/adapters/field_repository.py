"""Custom field definitions in SQL, always filtered by tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from customers.adapters.tables import custom_field_definitions as defs
from customers.adapters.tables import customers
from customers.app.ports import CustomFieldKeyTaken
from customers.domain.model import CustomFieldDefinition, CustomFieldType


class SqlCustomFieldRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, definition: CustomFieldDefinition) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(insert(defs).values(**_row(definition)))
        except IntegrityError as exc:
            raise CustomFieldKeyTaken(definition.key) from exc

    async def get(self, tenant_id: str, definition_id: str) -> CustomFieldDefinition | None:
        row = (
            await self._session.execute(
                select(defs).where(defs.c.tenant_id == tenant_id, defs.c.id == definition_id)
            )
        ).first()
        return None if row is None else _definition(row)

    async def by_key(self, tenant_id: str) -> dict[str, CustomFieldDefinition]:
        rows = await self._session.execute(select(defs).where(defs.c.tenant_id == tenant_id))
        return {r.key: _definition(r) for r in rows}

    async def page(
        self, tenant_id: str, *, after: list[str], limit: int
    ) -> list[CustomFieldDefinition]:
        where = [defs.c.tenant_id == tenant_id]
        if after:
            order, key = int(after[0]), after[1]
            where.append(past([defs.c.sort_order, defs.c.key], [order, key]))
        rows = await self._session.execute(
            select(defs).where(*where).order_by(defs.c.sort_order, defs.c.key).limit(limit)
        )
        return [_definition(r) for r in rows]

    async def save(self, definition: CustomFieldDefinition, *, expected_version: int) -> bool:
        row = _row(definition)
        del row["id"], row["tenant_id"], row["key"], row["type"], row["created_at"]
        result = await self._session.execute(
            update(defs)
            .where(
                defs.c.tenant_id == definition.tenant_id,
                defs.c.id == definition.id,
                defs.c.version == expected_version,
            )
            .values(**row)
        )
        return getattr(result, "rowcount", 0) == 1

    async def delete(self, tenant_id: str, definition_id: str, key: str) -> None:
        """Deletes the definition and takes its key out of every customer's values."""
        await self._session.execute(
            delete(defs).where(defs.c.tenant_id == tenant_id, defs.c.id == definition_id)
        )
        rows = await self._session.execute(
            select(customers.c.id, customers.c.custom_fields).where(
                customers.c.tenant_id == tenant_id
            )
        )
        for r in rows.all():
            values = dict(r.custom_fields or {})
            if key in values:
                del values[key]
                await self._session.execute(
                    update(customers).where(customers.c.id == r.id).values(custom_fields=values)
                )


def _row(d: CustomFieldDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "tenant_id": d.tenant_id,
        "key": d.key,
        "display_name": d.display_name,
        "type": d.type.value if d.type else "",
        "options": list(d.options),
        "required": d.required,
        "description": d.description,
        "sort_order": d.sort_order,
        "version": d.version,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }


def _definition(r: Any) -> CustomFieldDefinition:
    return CustomFieldDefinition(
        id=r.id,
        tenant_id=r.tenant_id,
        key=r.key,
        display_name=r.display_name,
        type=CustomFieldType(r.type),
        options=tuple(r.options or ()),
        required=bool(r.required),
        description=r.description,
        sort_order=int(r.sort_order),
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        version=int(r.version),
    )
