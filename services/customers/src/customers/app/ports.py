"""What the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.conditions.model import Node
from crosstalk_common.visibility import Visibility
from customers.app.job_ports import JobRepository
from customers.app.scoring_ports import ScoringRepository
from customers.app.segment_ports import MergeRepository, SegmentRepository
from customers.domain.events import CustomerEvent
from customers.domain.model import (
    ChannelIdentity,
    Customer,
    CustomFieldDefinition,
    LifecycleChange,
    Order,
    OrderTotals,
    PointsEntry,
    ScoreChange,
    Tag,
    TagGroup,
    TagGroupKind,
    TimelineEntry,
)

# Stages an event in the current transaction; returns the event id. The unit of
# work turns the CustomerEvent into its proto.
Emit = Callable[[str, CustomerEvent], Awaitable[str]]


class IdentityTaken(Exception):
    """A channel identity is already owned by a customer (a uniqueness violation)."""


class RequestReplayed(Exception):
    """A request_id was used by a concurrent request (a uniqueness violation)."""


class OrderTaken(Exception):
    """The tenant already has an order with this store and external id."""


class CustomerRepository(Protocol):
    async def add(self, customer: Customer) -> None: ...
    async def get(
        self, tenant_id: str, customer_id: str, visibility: Visibility = ...
    ) -> Customer | None: ...
    async def find_by_identity(
        self, tenant_id: str, identity: ChannelIdentity, visibility: Visibility
    ) -> Customer | None: ...
    async def identities_taken(
        self, tenant_id: str, identities: tuple[ChannelIdentity, ...], *, except_id: str = ""
    ) -> list[ChannelIdentity]: ...
    async def save(self, customer: Customer, *, expected_version: int) -> bool: ...
    async def save_stage(self, customer: Customer, *, expected_version: int) -> bool: ...
    async def delete(self, tenant_id: str, customer_id: str, visibility: Visibility) -> bool: ...
    async def add_tags(
        self, tenant_id: str, customer_id: str, tags: frozenset[str]
    ) -> frozenset[str]: ...
    async def remove_tags(
        self, tenant_id: str, customer_id: str, tags: frozenset[str]
    ) -> frozenset[str]: ...
    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        condition: Node | None,
        after: list[str],
        limit: int,
    ) -> list[Customer]: ...
    async def count(
        self, tenant_id: str, visibility: Visibility, condition: Node | None
    ) -> int: ...
    async def ids_after(
        self,
        tenant_id: str,
        visibility: Visibility,
        condition: Node | None,
        *,
        after_id: str,
        limit: int,
    ) -> list[str]: ...
    async def max_filter_conditions(self, tenant_id: str) -> int | None: ...
    async def mark_active(self, latest: Mapping[tuple[str, str], datetime]) -> set[tuple[str, str]]:
        """last_active_at = max(last_active_at, at) of each (tenant id, customer id);
        the customers that exist (the others are passed over)."""
        ...

    async def save_max_filter_conditions(self, tenant_id: str, limit: int) -> None: ...
    async def add_lifecycle_change(self, change: LifecycleChange) -> None: ...
    async def lifecycle_history(
        self, tenant_id: str, customer_id: str, *, after: list[str], limit: int
    ) -> list[LifecycleChange]: ...
    async def add_timeline(self, entry: TimelineEntry) -> None: ...
    async def add_timeline_entries(self, entries: Sequence[TimelineEntry]) -> None: ...
    async def timeline(
        self,
        tenant_id: str,
        customer_id: str,
        *,
        types: list[str],
        start: datetime | None,
        end: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[TimelineEntry]: ...
    async def add_to_score(
        self, tenant_id: str, customer_id: str, delta: int, *, now: datetime
    ) -> bool: ...
    async def add_points(
        self, tenant_id: str, customer_id: str, points: int, *, now: datetime
    ) -> bool: ...
    async def add_score_change(self, change: ScoreChange) -> None: ...
    async def score_change_for_request(
        self, tenant_id: str, customer_id: str, request_id: str
    ) -> ScoreChange | None: ...
    async def score_history(
        self, tenant_id: str, customer_id: str, *, after: list[str], limit: int
    ) -> list[ScoreChange]: ...
    async def add_points_entry(self, entry: PointsEntry) -> None: ...
    async def points_entry_for_request(
        self, tenant_id: str, customer_id: str, request_id: str
    ) -> PointsEntry | None: ...
    async def points_ledger(
        self, tenant_id: str, customer_id: str, *, after: list[str], limit: int
    ) -> list[PointsEntry]: ...
    async def lock(self, tenant_id: str, customer_id: str, *, now: datetime) -> bool: ...
    async def order_by_external_id(
        self, tenant_id: str, store: str, external_id: str
    ) -> Order | None: ...
    async def add_order(self, order: Order) -> None: ...
    async def save_order_totals(
        self, tenant_id: str, customer_id: str, totals: OrderTotals
    ) -> None: ...
    async def orders(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        customer_id: str,
        start: datetime | None,
        end: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[Order]: ...


class TagNameTaken(Exception):
    """A tag or tag group display name is already used in the tenant."""


class TagRepository(Protocol):
    async def add_group(self, group: TagGroup) -> None: ...
    async def get_group(self, tenant_id: str, group_id: str) -> TagGroup | None: ...
    async def find_group(self, tenant_id: str, display_name: str) -> TagGroup | None: ...
    async def save_group(self, group: TagGroup, *, expected_version: int) -> bool: ...
    async def delete_group(self, tenant_id: str, group_id: str) -> None: ...
    async def page_groups(
        self, tenant_id: str, *, kind: TagGroupKind | None, after: list[str], limit: int
    ) -> list[TagGroup]: ...
    async def groups(self, tenant_id: str, group_ids: set[str]) -> dict[str, TagGroup]: ...
    async def count_in_group(self, tenant_id: str, group_id: str) -> int: ...
    async def add_tag(self, tag: Tag) -> None: ...
    async def get_tag(self, tenant_id: str, tag_id: str) -> Tag | None: ...
    async def tags(self, tenant_id: str, tag_ids: set[str]) -> dict[str, Tag]: ...
    async def tags_by_display_name(self, tenant_id: str, names: set[str]) -> dict[str, Tag]: ...
    async def members(self, tenant_id: str, group_ids: set[str]) -> dict[str, frozenset[str]]: ...
    async def save_tag(self, tag: Tag, *, expected_version: int) -> bool: ...
    async def delete_tag(self, tenant_id: str, tag_id: str) -> list[str]: ...
    async def page_tags(
        self, tenant_id: str, *, group_id: str, after: list[str], limit: int
    ) -> list[Tag]: ...
    async def customer_counts(self, tenant_id: str, tag_ids: list[str]) -> dict[str, int]: ...


class CustomFieldKeyTaken(Exception):
    """A custom field key is already used in the tenant."""


class CustomFieldRepository(Protocol):
    async def add(self, definition: CustomFieldDefinition) -> None: ...
    async def get(self, tenant_id: str, definition_id: str) -> CustomFieldDefinition | None: ...
    async def by_key(self, tenant_id: str) -> dict[str, CustomFieldDefinition]: ...
    async def page(
        self, tenant_id: str, *, after: list[str], limit: int
    ) -> list[CustomFieldDefinition]: ...
    async def save(self, definition: CustomFieldDefinition, *, expected_version: int) -> bool: ...
    async def delete(self, tenant_id: str, definition_id: str, key: str) -> None: ...


class UnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def customers(self) -> CustomerRepository: ...
    @property
    def tags(self) -> TagRepository: ...
    @property
    def fields(self) -> CustomFieldRepository: ...
    @property
    def jobs(self) -> JobRepository: ...
    @property
    def segments(self) -> SegmentRepository: ...
    @property
    def merges(self) -> MergeRepository: ...
    @property
    def scoring(self) -> ScoringRepository: ...

    async def emit(self, tenant_id: str, event: CustomerEvent) -> str:
        """Stage an event for the outbox (as its proto); written by ``commit`` in the
        same transaction."""
        ...

    async def emit_many(self, tenant_id: str, events: Sequence[CustomerEvent]) -> list[str]:
        """Stage many events at once; their ids, in order."""
        ...
