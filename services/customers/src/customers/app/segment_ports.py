"""What segment and merge use cases need from storage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from crosstalk_common.conditions.model import Node
from crosstalk_common.visibility import Visibility
from customers.domain.duplicates import Candidate, ContactKey, MemberProfile
from customers.domain.merging import MergeRecord, OrderSummary
from customers.domain.segments import Segment, SegmentVisibility

# Reads a segment's stored condition (a serialized Condition) into a filter,
# checked against the tenant's current fields; InvalidArgument when it no longer fits.
FilterReader = Callable[[str, bytes], Awaitable[Node | None]]


class SegmentNameTaken(Exception):
    """The owner already has a segment with this display name."""


class SegmentRepository(Protocol):
    """Saved filters of a tenant; see adapters/segment_repository.py."""

    async def add(self, segment: Segment) -> None: ...
    async def get(self, tenant_id: str, segment_id: str) -> Segment | None: ...
    async def page(
        self,
        tenant_id: str,
        member_id: str,
        *,
        visibility: SegmentVisibility | None,
        after: list[str],
        limit: int,
    ) -> list[Segment]: ...
    async def save(self, segment: Segment, *, expected_version: int) -> bool: ...
    async def save_count(
        self, tenant_id: str, segment_id: str, count: int, *, at: datetime
    ) -> None: ...
    async def delete(self, tenant_id: str, segment_id: str, *, expected_version: int) -> bool: ...


class MergeRepository(Protocol):
    """Moves one customer's rows onto another; see adapters/merge_repository.py."""

    async def target_for_request(self, tenant_id: str, request_id: str) -> str | None: ...
    async def move_rows(self, tenant_id: str, from_ids: list[str], to_id: str) -> None: ...
    async def replace_tags(
        self, tenant_id: str, customer_id: str, tags: frozenset[str], *, now: datetime
    ) -> None: ...
    async def add_balances(
        self, tenant_id: str, customer_id: str, *, score: int, points: int
    ) -> None: ...
    async def order_summary(self, tenant_id: str, customer_id: str) -> OrderSummary: ...
    async def add_records(self, records: list[MergeRecord]) -> None: ...

    # --- duplicate suggestions ---
    async def candidates(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        customer_id: str,
        after: list[str],
        limit: int,
    ) -> list[Candidate]: ...
    async def keys_of(
        self, tenant_id: str, customer_ids: set[str]
    ) -> dict[str, frozenset[ContactKey]]: ...
    async def holders(
        self, tenant_id: str, visibility: Visibility, keys: set[ContactKey]
    ) -> dict[ContactKey, int]: ...
    async def profiles(
        self, tenant_id: str, customer_ids: set[str]
    ) -> dict[str, MemberProfile]: ...
