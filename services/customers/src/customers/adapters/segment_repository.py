"""SegmentRepository in SQL, always filtered by tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from customers.adapters.tables import segments
from customers.app.segment_ports import SegmentNameTaken
from customers.domain.segments import Segment, SegmentVisibility


def _segment(r: Row[Any]) -> Segment:
    return Segment(
        id=r.id,
        tenant_id=r.tenant_id,
        display_name=r.display_name,
        description=r.description,
        condition=bytes(r.condition),
        visibility=SegmentVisibility(r.visibility),
        owner_member_id=r.owner_member_id,
        customer_count=int(r.customer_count),
        count_time=as_utc(r.count_time) if r.count_time else None,
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        version=r.version,
    )


def _row(segment: Segment) -> dict[str, Any]:
    assert segment.visibility is not None
    return {
        "id": segment.id,
        "tenant_id": segment.tenant_id,
        "display_name": segment.display_name,
        "description": segment.description,
        "condition": segment.condition,
        "visibility": segment.visibility.value,
        "owner_member_id": segment.owner_member_id,
        "customer_count": segment.customer_count,
        "count_time": segment.count_time,
        "version": segment.version,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
    }


class SqlSegmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _write(self, statement: Any) -> Any:
        try:
            async with self._session.begin_nested():
                return await self._session.execute(statement)
        except IntegrityError as exc:
            raise SegmentNameTaken(str(exc.orig)) from exc

    async def add(self, segment: Segment) -> None:
        await self._write(insert(segments).values(**_row(segment)))

    async def get(self, tenant_id: str, segment_id: str) -> Segment | None:
        row = (
            await self._session.execute(
                select(segments).where(
                    segments.c.tenant_id == tenant_id, segments.c.id == segment_id
                )
            )
        ).first()
        return None if row is None else _segment(row)

    async def page(
        self,
        tenant_id: str,
        member_id: str,
        *,
        visibility: SegmentVisibility | None,
        after: list[str],
        limit: int,
    ) -> list[Segment]:
        """The member's own segments and every shared one, by display name and id."""
        shared = segments.c.visibility == SegmentVisibility.SHARED.value
        where: list[ColumnElement[bool]] = [
            segments.c.tenant_id == tenant_id,
            or_(shared, segments.c.owner_member_id == member_id) if member_id else shared,
        ]
        if visibility is not None:
            where.append(segments.c.visibility == visibility.value)
        if after:
            where.append(past([segments.c.display_name, segments.c.id], after))
        rows = await self._session.execute(
            select(segments)
            .where(*where)
            .order_by(segments.c.display_name, segments.c.id)
            .limit(limit)
        )
        return [_segment(r) for r in rows]

    async def save(self, segment: Segment, *, expected_version: int) -> bool:
        row = _row(segment)
        for kept in ("id", "tenant_id", "owner_member_id", "created_at"):
            del row[kept]
        # Counts are written by save_count only.
        del row["customer_count"], row["count_time"]
        result = await self._write(
            update(segments)
            .where(
                segments.c.tenant_id == segment.tenant_id,
                segments.c.id == segment.id,
                segments.c.version == expected_version,
            )
            .values(**row)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def save_count(
        self, tenant_id: str, segment_id: str, count: int, *, at: datetime
    ) -> None:
        """The count does not change the segment: no new version, no etag change."""
        await self._session.execute(
            update(segments)
            .where(segments.c.tenant_id == tenant_id, segments.c.id == segment_id)
            .values(customer_count=count, count_time=at)
        )

    async def delete(self, tenant_id: str, segment_id: str, *, expected_version: int) -> bool:
        result = await self._session.execute(
            delete(segments).where(
                segments.c.tenant_id == tenant_id,
                segments.c.id == segment_id,
                segments.c.version == expected_version,
            )
        )
        return bool(getattr(result, "rowcount", 0) == 1)
