"""Customer filters as SQL: each filter field mapped to a column or a leaf compiler.

Portable between SQLite and PostgreSQL. Multi-valued attributes live in
their own tables (tags, channel identities) and are tested with EXISTS;
emails, phones and multi-select custom fields are JSON arrays, tested by
pattern on their JSON text (each element appears there as a quoted JSON
string).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Text, and_, cast, exists, false, func, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Leaf, Node, Op, iter_leaves
from crosstalk_common.conditions.sql import (
    LIKE_ESCAPE,
    ColumnResolver,
    LeafCompiler,
    compile_to_sql,
    escape_like,
)
from customers.adapters.tables import customer_identities, customer_tags, customers
from customers.domain.filter_fields import CUSTOM_FIELD_PREFIX
from customers.domain.model import CustomFieldDefinition, CustomFieldType

c = customers.c


def _tags(op: Op, values: Sequence[Any]) -> ColumnElement[bool]:
    def tagged(*where: ColumnElement[bool]) -> ColumnElement[bool]:
        return exists().where(customer_tags.c.customer_id == c.id, *where)

    if op is Op.IS_EMPTY:
        return not_(tagged())
    if op is Op.IS_NOT_EMPTY:
        return tagged()
    ids = [str(v) for v in dict.fromkeys(values)]
    if op is Op.HAS_ANY_TAG:
        return tagged(customer_tags.c.tag.in_(ids))
    if op is Op.HAS_ALL_TAGS:
        return and_(*(tagged(customer_tags.c.tag == t) for t in ids))
    if op is Op.HAS_NO_TAG:
        return not_(tagged(customer_tags.c.tag.in_(ids)))
    raise ValueError(f"operator {op} is not defined on tags")


def _identity_exists(*where: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(customer_identities.c.customer_id == c.id, *where)


def _channel(op: Op, values: Sequence[Any]) -> ColumnElement[bool]:
    on_channel = _identity_exists(customer_identities.c.channel.in_([str(v) for v in values]))
    return not_(on_channel) if op in (Op.NOT_EQUALS, Op.NOT_IN) else on_channel


def _store(op: Op, values: Sequence[Any]) -> ColumnElement[bool]:
    store = customer_identities.c.store
    if op in (Op.IS_EMPTY, Op.IS_NOT_EMPTY):
        any_store = _identity_exists(store != "")
        return not_(any_store) if op is Op.IS_EMPTY else any_store
    if op in (Op.CONTAINS, Op.NOT_CONTAINS):
        found = _identity_exists(
            or_(*(store.ilike(f"%{escape_like(str(v))}%", escape=LIKE_ESCAPE) for v in values))
        )
    else:
        found = _identity_exists(store.in_([str(v).strip().lower() for v in values]))
    return not_(found) if op in (Op.NOT_EQUALS, Op.NOT_IN, Op.NOT_CONTAINS) else found


def json_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """A JSON value as its text, the same on SQLite and PostgreSQL."""
    return func.coalesce(cast(column, Text()), "")


def _json_list(column: ColumnElement[Any]) -> LeafCompiler:
    """Leaves on a JSON array of strings: element equality, substring, presence."""
    text = json_text(column)

    def has_element(value: Any) -> ColumnElement[bool]:
        quoted = json.dumps(str(value))
        return text.like(f"%{escape_like(quoted)}%", escape=LIKE_ESCAPE)

    def compile_leaf(op: Op, values: Sequence[Any]) -> ColumnElement[bool]:
        empty = or_(text == "", text == "[]", text == "null")
        if op is Op.IS_EMPTY:
            return empty
        if op is Op.IS_NOT_EMPTY:
            return not_(empty)
        if op in (Op.CONTAINS, Op.NOT_CONTAINS):
            found = or_(
                false(),
                *(text.ilike(f"%{escape_like(str(v))}%", escape=LIKE_ESCAPE) for v in values),
            )
            return not_(found) if op is Op.NOT_CONTAINS else found
        if op is Op.HAS_ALL_TAGS:
            return and_(*(has_element(v) for v in values))
        found = or_(false(), *(has_element(v) for v in values))
        if op in (Op.NOT_EQUALS, Op.NOT_IN, Op.HAS_NO_TAG):
            return not_(found)
        return found

    return compile_leaf


def _order_value(op: Op, values: Sequence[Any]) -> ColumnElement[bool]:
    if op is Op.IS_EMPTY:
        return c.order_currency == ""
    if op is Op.IS_NOT_EMPTY:
        return c.order_currency != ""
    amount = cast(c.order_value_units, Float) + cast(c.order_value_nanos, Float) / 1e9
    leaf = Leaf("order_value", op, tuple(values))
    clause = compile_to_sql(leaf, {"order_value": amount})
    if op in (Op.NOT_EQUALS, Op.NOT_IN):
        # As for every field (ADR 0004, and evaluate): a customer without orders has
        # no order value, which is none of the values.
        return or_(c.order_currency == "", clause)
    return and_(c.order_currency != "", clause)


def _custom_date(text: ColumnElement[Any], now: datetime) -> LeafCompiler:
    """Dates are stored as "YYYY-MM-DD" text, which sorts like the dates."""

    def compile_leaf(op: Op, values: Sequence[Any]) -> ColumnElement[bool]:
        if op is Op.WITHIN_LAST:
            op, values = Op.GTE, ((now - values[0]),)
        days = tuple(v.date().isoformat() if isinstance(v, datetime) else v for v in values)
        if op is Op.AFTER:
            op = Op.GT
        elif op is Op.BEFORE:
            op = Op.LT
        return compile_to_sql(Leaf("date", op, days), {"date": text})

    return compile_leaf


def custom_field_value(definition: CustomFieldDefinition) -> ColumnElement[Any]:
    """A custom field's value as filters compare it: a float, a boolean, or text
    (dates as "YYYY-MM-DD", multi-select as the JSON array's text)."""
    value = c.custom_fields[definition.key]
    kind = definition.type or CustomFieldType.TEXT
    if kind is CustomFieldType.MULTI_SELECT:
        return json_text(value)
    typed: ColumnElement[Any]
    if kind is CustomFieldType.NUMBER:
        typed = value.as_float()
    elif kind is CustomFieldType.BOOLEAN:
        typed = value.as_boolean()
    else:
        typed = value.as_string()
    return typed


def _custom_field(definition: CustomFieldDefinition, now: datetime) -> ColumnResolver:
    kind = definition.type or CustomFieldType.TEXT
    if kind is CustomFieldType.DATE:
        return _custom_date(custom_field_value(definition), now)
    if kind is CustomFieldType.MULTI_SELECT:
        return _json_list(c.custom_fields[definition.key])
    return custom_field_value(definition)


STATIC_COLUMNS: dict[str, ColumnResolver] = {
    "display_name": c.display_name,
    "emails": _json_list(c.emails),
    "phones": _json_list(c.phones),
    "country": c.country,
    "language": c.language,
    "time_zone": c.time_zone,
    "tags": _tags,
    "lifecycle_stage": c.lifecycle_stage,
    "tier": c.tier_id,
    "score": c.score,
    "points_balance": c.points_balance,
    "order_count": c.order_count,
    "order_value": _order_value,
    "last_order_time": c.last_order_time,
    "channel": _channel,
    "store": _store,
    "owner": c.owner_member_id,
    "department": c.department_id,
    "blacklisted": c.blacklisted,
    "create_time": c.created_at,
    "update_time": c.updated_at,
    "last_active_time": c.last_active_at,
}


def custom_field_keys(condition: Node) -> set[str]:
    """The custom field keys a condition names."""
    return {
        leaf.field.removeprefix(CUSTOM_FIELD_PREFIX)
        for leaf in iter_leaves(condition)
        if leaf.field.startswith(CUSTOM_FIELD_PREFIX)
    }


def customer_filter_clause(
    condition: Node,
    definitions: Mapping[str, CustomFieldDefinition],
    *,
    now: datetime | None = None,
) -> ColumnElement[bool]:
    """The WHERE clause of a parsed customer filter (see domain/filter_fields.py)."""
    now = now or utc_now()
    columns = dict(STATIC_COLUMNS)
    for key in custom_field_keys(condition):
        definition = definitions.get(key)
        if definition is not None:
            columns[CUSTOM_FIELD_PREFIX + key] = _custom_field(definition, now)
    return compile_to_sql(condition, columns, now=now)
