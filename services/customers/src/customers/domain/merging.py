"""Merging duplicate customers into one: which values the kept customer ends up with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crosstalk_common.errors import FieldViolation, InvalidArgument
from customers.domain.model import Customer, Money, OrderTotals

MAX_MERGED_CUSTOMERS = 10


def validate_merge(survivor_id: str, merged_ids: Sequence[str]) -> list[str]:
    """The merged ids, checked: 1 to 10, none repeated, none the kept customer."""
    if not merged_ids:
        raise InvalidArgument(
            [FieldViolation("merged_customers", "name at least one customer to merge")]
        )
    if len(merged_ids) > MAX_MERGED_CUSTOMERS:
        raise InvalidArgument(
            [
                FieldViolation(
                    "merged_customers",
                    f"at most {MAX_MERGED_CUSTOMERS} customers per merge, got {len(merged_ids)}",
                )
            ]
        )
    bad: list[FieldViolation] = []
    seen: set[str] = set()
    for i, merged_id in enumerate(merged_ids):
        if merged_id == survivor_id:
            bad.append(
                FieldViolation(f"merged_customers[{i}]", "is the kept customer ('customer')")
            )
        elif merged_id in seen:
            bad.append(FieldViolation(f"merged_customers[{i}]", "is listed twice"))
        seen.add(merged_id)
    if bad:
        raise InvalidArgument(bad)
    return list(merged_ids)


def normalized_email(email: str) -> str:
    return email.strip().lower()


def normalized_phone(phone: str) -> str:
    """Digits only, keeping a leading '+': "+49 (170) 123-45" -> "+4917012345"."""
    text = phone.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    return f"+{digits}" if text.startswith("+") and digits else digits


def _union(values: Iterable[str], key: Callable[[str], str]) -> tuple[str, ...]:
    """The values without repeats by key; the first spelling of each is kept."""
    seen: dict[str, str] = {}
    for value in values:
        k = key(value) or value
        seen.setdefault(k, value)
    return tuple(seen.values())


def merged_profile(survivor: Customer, others: Sequence[Customer]) -> Customer:
    """The kept customer after taking in the others.

    Emails, phones and channel identities are unioned (emails and phones
    compared normalized, the first spelling kept). Empty fields of the kept
    customer (country, language, time zone, owner, department, lifecycle
    stage, tier, custom field values) are filled from the others in the order
    given; where both have a value the kept customer's wins. A blacklisted
    duplicate leaves the result blacklisted. last_active_at is the latest.
    Score, points and order totals are summed by the caller (in SQL).
    """
    everyone = [survivor, *others]
    custom_fields: dict[str, object] = {}
    for customer in reversed(everyone):
        custom_fields.update(customer.custom_fields)

    def first(attribute: str) -> object:
        for customer in everyone:
            value = getattr(customer, attribute)
            if value:
                return value
        return getattr(survivor, attribute)

    blacklisted = next((c for c in everyone if c.blacklisted), None)
    active = [c.last_active_at for c in everyone if c.last_active_at is not None]
    return replace(
        survivor,
        emails=_union((e for c in everyone for e in c.emails), normalized_email),
        phones=_union((p for c in everyone for p in c.phones), normalized_phone),
        identities=tuple(dict.fromkeys(i for c in everyone for i in c.identities)),
        country=str(first("country")),
        language=str(first("language")),
        time_zone=str(first("time_zone")),
        owner_member_id=str(first("owner_member_id")),
        department_id=str(first("department_id")),
        tier_id=str(first("tier_id")),
        lifecycle_stage=next(
            (c.lifecycle_stage for c in everyone if c.lifecycle_stage is not None), None
        ),
        custom_fields=custom_fields,
        blacklisted=blacklisted is not None,
        blacklist_reason=blacklisted.blacklist_reason if blacklisted else "",
        blacklist_time=blacklisted.blacklist_time if blacklisted else None,
        last_active_at=max(active) if active else None,
    )


def merged_tags(
    survivor: Customer,
    others: Sequence[Customer],
    exclusive_groups: Mapping[str, frozenset[str]],
) -> frozenset[str]:
    """Every tag of everyone, but one tag per exclusive group: the kept customer's
    if it has one, else that of the first duplicate (in the order given) that has."""
    group_of = {tag: group for group, tags in exclusive_groups.items() for tag in tags}
    kept: set[str] = set()
    taken_groups: set[str] = set()
    for customer in [survivor, *others]:
        chosen_here: set[str] = set()
        for tag in sorted(customer.tags):
            group = group_of.get(tag)
            if group is None:
                kept.add(tag)
            elif group not in taken_groups:
                kept.add(tag)
                chosen_here.add(group)
        taken_groups |= chosen_here
    return frozenset(kept)


@dataclass(frozen=True)
class OrderSummary:
    """A customer's orders as SQL sums them: per currency, oldest currency first."""

    count: int
    last_order_time: datetime | None
    # Sum of amounts in nanos per currency, in the order of each currency's first order.
    value_by_currency: Mapping[str, int]


def merged_order_totals(survivor: OrderTotals, orders: OrderSummary) -> OrderTotals:
    """Totals over all orders now held by the kept customer.

    order_value stays in the kept customer's currency (the currency of its
    first order); when it had no orders, the currency of the oldest order.
    Orders in other currencies count in order_count and last_order_time but
    not in order_value, as when they are recorded.
    """
    currency = survivor.order_value.currency if survivor.order_value else ""
    if not currency and orders.value_by_currency:
        currency = next(iter(orders.value_by_currency))
    value = (
        Money.of_nanos(currency, orders.value_by_currency.get(currency, 0)) if currency else None
    )
    return OrderTotals(
        order_count=orders.count, order_value=value, last_order_time=orders.last_order_time
    )


@dataclass(frozen=True)
class MergeRecord:
    """One customer folded into another (the merged one no longer exists)."""

    id: str
    tenant_id: str
    target_id: str
    merged_id: str
    merged_display_name: str
    actor: str
    request_id: str
    created_at: datetime
