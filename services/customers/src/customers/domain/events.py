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
    type: ClassVar[str] = "customer.updated"
    customer_id: str
    changed_fields: tuple[str, ...]
    actor: str


@dataclass(frozen=True)
class CustomerDeleted(CustomerEvent):
    type: ClassVar[str] = "customer.deleted"
    customer_id: str


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
    cause_event_id: str


@dataclass(frozen=True)
class OrderRecorded(CustomerEvent):
    """``order_count`` and ``order_value`` are the customer's totals with this order."""

    type: ClassVar[str] = "order.recorded"
    order: Order
    order_count: int
    order_value: Money
