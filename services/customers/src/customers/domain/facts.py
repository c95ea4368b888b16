"""A customer as facts for in-memory condition evaluation (tier rules)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from customers.domain.filter_fields import CUSTOM_FIELD_PREFIX
from customers.domain.model import Customer, CustomFieldDefinition, CustomFieldType


def customer_facts(
    customer: Customer, definitions: Mapping[str, CustomFieldDefinition] | None = None
) -> dict[str, Any]:
    """A customer's values keyed by filter field name, for in-memory ``evaluate``.

    Give the tenant's custom field ``definitions`` when conditions may
    compare date custom fields: their "YYYY-MM-DD" text becomes a UTC
    midnight datetime, as the condition's values are.
    """
    totals = customer.order_totals
    value = totals.order_value
    facts: dict[str, Any] = {
        "display_name": customer.display_name,
        "emails": list(customer.emails),
        "phones": list(customer.phones),
        "country": customer.country,
        "language": customer.language,
        "time_zone": customer.time_zone,
        "tags": set(customer.tags),
        "lifecycle_stage": customer.lifecycle_stage.value if customer.lifecycle_stage else None,
        "tier": customer.tier_id or None,
        "score": customer.score,
        "points_balance": customer.points_balance,
        "order_count": totals.order_count,
        "order_value": value.total_nanos / 1_000_000_000 if value else None,
        "last_order_time": totals.last_order_time,
        "channel": sorted({i.channel.value for i in customer.identities}),
        "store": sorted({i.store for i in customer.identities if i.store}),
        "owner": customer.owner_member_id or None,
        "department": customer.department_id or None,
        "blacklisted": customer.blacklisted,
        "create_time": customer.created_at,
        "update_time": customer.updated_at,
        "last_active_time": customer.last_active_at,
    }
    for key, field_value in customer.custom_fields.items():
        definition = (definitions or {}).get(key)
        if definition is not None and definition.type is CustomFieldType.DATE:
            field_value = _date(field_value)
        facts[CUSTOM_FIELD_PREFIX + key] = field_value
    return facts


def _date(value: object) -> object:
    try:
        return datetime.combine(date.fromisoformat(str(value)), time(), tzinfo=UTC)
    except ValueError:
        return None
