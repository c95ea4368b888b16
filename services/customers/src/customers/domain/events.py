"""What customers announces about a customer, as the domain sees it.

The use cases stage these (``uow.emit``); the unit of work turns each into the
event of the contract (``customer.created`` ...) with ``adapters/mapping.py``,
so the app layer builds no proto for them. ``type`` is the catalogue type the
timeline records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from customers.domain.model import Customer, LifecycleStage, Money, Order


@dataclass(frozen=True)
class CustomerEvent:
    type: ClassVar[str]


@dataclass(frozen=True)
class CustomerCreated(CustomerEvent):
    type: ClassVar[str] = "customer.created"
    customer: Customer


@dataclass(frozen=True)
class CustomerUpdated(CustomerEvent):
    """``owner_member_id`` and ``department_id``: the customer's after the change, for
    scope-aware consumers, where the use case tells them ("" leaves them out)."""

    type: ClassVar[str] = "customer.updated"
    customer_id: str
    changed_fields: tuple[str, ...]
    actor: str
    owner_member_id: str = ""
    department_id: str = ""


@dataclass(frozen=True)
class CustomerDeleted(CustomerEvent):
    type: ClassVar[str] = "customer.deleted"
    customer_id: str


@dataclass(frozen=True)
class TagsChanged(CustomerEvent):
    """Tags (ids, in the order told) were put on or taken off the customer;
    ``cause_event_id`` is the event that caused it (a rule action), empty for
    manual edits."""

    customer_id: str
    tag_ids: tuple[str, ...]
    cause_event_id: str = ""


@dataclass(frozen=True)
class CustomerTagged(TagsChanged):
    type: ClassVar[str] = "customer.tagged"


@dataclass(frozen=True)
class CustomerUntagged(TagsChanged):
    type: ClassVar[str] = "customer.untagged"


@dataclass(frozen=True)
class CustomerTierChanged(CustomerEvent):
    """An id is "" where the customer had no tier, lost every tier, or no rule decided."""

    type: ClassVar[str] = "customer.tier_changed"
    customer_id: str
    from_tier_id: str
    to_tier_id: str
    tier_rule_id: str


@dataclass(frozen=True)
class CustomerMerged(CustomerEvent):
    """``merged_customer_ids`` were merged into ``customer_id`` and deleted."""

    type: ClassVar[str] = "customer.merged"
    customer_id: str
    merged_customer_ids: tuple[str, ...]
    actor: str


@dataclass(frozen=True)
class CustomerStageChanged(CustomerEvent):
    type: ClassVar[str] = "customer.stage_changed"
    customer_id: str
    from_stage: LifecycleStage | None
    to_stage: LifecycleStage
    reason: str
    actor: str
    cause_event_id: str


@dataclass(frozen=True)
class CustomerBlacklisted(CustomerEvent):
    type: ClassVar[str] = "customer.blacklisted"
    customer_id: str
    reason: str
    actor: str


@dataclass(frozen=True)
class CustomerScored(CustomerEvent):
    type: ClassVar[str] = "customer.scored"
    customer_id: str
    delta: int
    score: int
    reason: str
    source: str
    cause_event_id: str = ""


@dataclass(frozen=True)
class OrderRecorded(CustomerEvent):
    """``order_count`` and ``order_value`` are the customer's totals with this order."""

    type: ClassVar[str] = "order.recorded"
    order: Order
    order_count: int
    order_value: Money
