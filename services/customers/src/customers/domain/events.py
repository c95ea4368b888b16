"""What customers announces about a customer, as the domain sees it.

The use cases stage these (``uow.emit``); the unit of work turns each into the
event of the contract (``customer.created`` ...) with ``adapters/mapping.py``,
so the app layer builds no proto for them. ``type`` is the catalogue type the
timeline records.

Every event about a customer carries a ``CustomerSnapshot``: the customer as
the transaction that made the change leaves them. The use cases leave it
unset; the unit of work fills it when it commits, for all the transaction's
events at once (``adapters/snapshots.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import ClassVar

from customers.domain.model import ChannelIdentity, Customer, LifecycleStage, Money, Order


@dataclass(frozen=True)
class CustomerSnapshot:
    """A customer after a change, as every event about them carries it.

    ``version`` grows with every change of the customer (by one per event
    about them), deletion included, so a projection keeps the snapshot of
    the highest version it has seen; a deleted customer's says ``deleted``
    and nothing else. ``tags``: (tag id, display name) pairs."""

    version: int
    deleted: bool = False
    display_name: str = ""
    owner_member_id: str = ""
    department_id: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    tier_label: str = ""
    score: int = 0
    points: int = 0
    lifecycle_stage: LifecycleStage | None = None
    country: str = ""
    language: str = ""
    custom_fields: Mapping[str, object] = field(default_factory=dict)
    order_count: int = 0
    order_total: Money | None = None
    last_order_time: datetime | None = None
    blacklisted: bool = False
    identities: tuple[ChannelIdentity, ...] = ()


@dataclass(frozen=True)
class CustomerEvent:
    type: ClassVar[str]
    # Filled by the unit of work as it commits (see the module's doc).
    snapshot: CustomerSnapshot | None = field(default=None, kw_only=True)

    @property
    def subject_id(self) -> str:
        """The customer the event is about ("" for none: no snapshot)."""
        return str(getattr(self, "customer_id", ""))


@dataclass(frozen=True)
class CustomerCreated(CustomerEvent):
    type: ClassVar[str] = "customer.created"
    customer: Customer

    @property
    def subject_id(self) -> str:
        return self.customer.id


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

    @property
    def subject_id(self) -> str:
        return self.order.customer_id


class RuleActionOutcome(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Nothing to do: already applied, the customer is gone ...
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RuleActionCompleted(CustomerEvent):
    """customers applied (or could not apply) action ``action_index`` of rule run
    ``run``; ``action_type`` is the action event's type ("rule.action.tag")."""

    type: ClassVar[str] = "customer.rule_action_completed"
    rule: str
    run: str
    action_index: int
    action_type: str
    outcome: RuleActionOutcome
    reason: str = ""
    result: str = ""

    @property
    def subject_id(self) -> str:
        return ""  # about a rule's action, not a customer: no snapshot
