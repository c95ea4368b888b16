"""Saved segments: named customer filters, private or shared.

A private segment is seen and used by its owner only (NOT_FOUND for anyone
else); a shared one by every member of the tenant. Only the owner, or a
member whose data scope is ALL, may change or delete a segment (and only one
they can see). Display names are unique per owner.

customer_count is counted when a segment is read (Get, List, and the answer
of Create and Update), within the reader's data scope, so two members may see
different counts. When the reader is the owner, the count is also stored
with count_time: the stored count is the one in the owner's scope. A
condition that no longer fits the tenant's fields (a custom field was
deleted) is not counted; the last stored count is returned.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Node
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from crosstalk_common.permissions import DataScope
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.ports import UnitOfWork
from customers.app.segment_ports import FilterReader, SegmentNameTaken
from customers.domain.segments import Segment, SegmentVisibility, validate_segment

SEGMENT = "crosstalk.io/Segment"
_CONFIGURE = "customers.configure"


def segment_name(segment_id: str) -> str:
    return f"segments/{segment_id}"


@dataclass(frozen=True)
class SegmentReader:
    """Who asks: the member (owner of what they create) and their data scope."""

    tenant_id: str
    member_id: str
    visibility: Visibility


@dataclass(frozen=True)
class SegmentService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    read_filter: FilterReader

    async def create(self, draft: Segment, reader: SegmentReader) -> Segment:
        if not reader.member_id:
            raise PermissionDenied(
                _CONFIGURE,
                "a segment belongs to a member: call as a member, not a service or an API key",
                reason="MEMBER_REQUIRED",
            )
        now = utc_now()
        segment = validate_segment(
            replace(
                draft,
                id=str(uuid.uuid4()),
                tenant_id=reader.tenant_id,
                owner_member_id=reader.member_id,
                visibility=draft.visibility or SegmentVisibility.PRIVATE,
                customer_count=0,
                count_time=None,
                created_at=now,
                updated_at=now,
                version=1,
            )
        )
        node = await self._filter(segment)
        async with self.new_uow() as uow:
            segment = segment.counted(
                await uow.customers.count(reader.tenant_id, reader.visibility, node), now
            )
            try:
                await uow.segments.add(segment)
            except SegmentNameTaken:
                raise AlreadyExists(SEGMENT, segment.display_name) from None
            await uow.commit()
        return segment

    async def get(self, segment_id: str, reader: SegmentReader) -> Segment:
        async with self.new_uow() as uow:
            segment = await _visible(uow, segment_id, reader)
        return (await self._counted([segment], reader))[0]

    async def page(
        self,
        reader: SegmentReader,
        *,
        visibility: SegmentVisibility | None,
        after: list[str],
        limit: int,
    ) -> list[Segment]:
        """The reader's own segments and the shared ones, by display name; each one
        counted (one COUNT per segment, so pages stay small)."""
        async with self.new_uow() as uow:
            found = await uow.segments.page(
                reader.tenant_id, reader.member_id, visibility=visibility, after=after, limit=limit
            )
        return await self._counted(found, reader)

    async def update(
        self, segment_id: str, changes: dict[str, object], etag: str, reader: SegmentReader
    ) -> Segment:
        async with self.new_uow() as uow:
            current = await _changeable(uow, segment_id, etag, reader)
        updated = validate_segment(
            replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
        )
        if "condition" in changes:
            await self._filter(updated)
        async with self.new_uow() as uow:
            try:
                saved = await uow.segments.save(updated, expected_version=current.version)
            except SegmentNameTaken:
                raise AlreadyExists(SEGMENT, updated.display_name) from None
            if not saved:
                raise Aborted.etag_mismatch(segment_name(segment_id))
            await uow.commit()
        return (await self._counted([updated], reader))[0]

    async def delete(self, segment_id: str, etag: str, reader: SegmentReader) -> None:
        async with self.new_uow() as uow:
            current = await _changeable(uow, segment_id, etag, reader)
            if not await uow.segments.delete(
                reader.tenant_id, segment_id, expected_version=current.version
            ):
                raise Aborted.etag_mismatch(segment_name(segment_id))
            await uow.commit()

    async def _filter(self, segment: Segment) -> Node:
        node = await self.read_filter(segment.tenant_id, segment.condition)
        if node is None:
            raise InvalidArgument(
                [FieldViolation("segment.condition", "a segment needs a condition")]
            )
        return node

    async def _counted(self, segments: list[Segment], reader: SegmentReader) -> list[Segment]:
        """The segments with their counts in the reader's scope (stored for the owner)."""
        filters: dict[str, Node | None] = {}
        for segment in segments:
            try:
                filters[segment.id] = await self.read_filter(segment.tenant_id, segment.condition)
            except InvalidArgument:
                continue  # no longer fits the tenant's fields: keep the last count
        if not filters:
            return segments
        now = utc_now()
        counted: list[Segment] = []
        async with self.new_uow() as uow:
            for segment in segments:
                if segment.id not in filters:
                    counted.append(segment)
                    continue
                count = await uow.customers.count(
                    reader.tenant_id, reader.visibility, filters[segment.id]
                )
                if reader.member_id and reader.member_id == segment.owner_member_id:
                    await uow.segments.save_count(reader.tenant_id, segment.id, count, at=now)
                counted.append(segment.counted(count, now))
            await uow.commit()
        return counted


async def _visible(uow: UnitOfWork, segment_id: str, reader: SegmentReader) -> Segment:
    segment = await uow.segments.get(reader.tenant_id, segment_id)
    if segment is None or not segment.visible_to(reader.member_id):
        raise NotFound(SEGMENT, segment_name(segment_id))
    return segment


async def _changeable(
    uow: UnitOfWork, segment_id: str, etag: str, reader: SegmentReader
) -> Segment:
    segment = await _visible(uow, segment_id, reader)
    owner = bool(reader.member_id) and reader.member_id == segment.owner_member_id
    if not owner and reader.visibility.scope is not DataScope.ALL:
        raise PermissionDenied(
            _CONFIGURE,
            "only the segment's owner, or a member who sees all customers, may change it",
            reason="SEGMENT_OWNER_ONLY",
        )
    check_etag(etag, segment.etag, segment_name(segment_id))
    return segment
