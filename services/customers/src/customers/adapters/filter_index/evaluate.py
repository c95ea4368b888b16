"""A parsed customer filter run over a ``CustomerTable``: one boolean per slot.

Means what ``customer_filter_sql`` means (the tests run both on the same
customers and compare). Within an AND the cheap leaves go first and each
child only has to be right where the earlier ones held, so free-text and
list leaves look at few customers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from crosstalk_common.conditions.model import Group, Leaf, Node, Op
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from customers.adapters.filter_index.columns import JsonLists, Mask, Texts, Words
from customers.adapters.filter_index.table import CustomerTable, date_days, micros
from customers.domain.filter_fields import CUSTOM_FIELD_PREFIX
from customers.domain.model import CustomFieldType

_TIME_FIELDS = frozenset({"create_time", "update_time", "last_active_time", "last_order_time"})
_DATE_OPS = {Op.AFTER: Op.GT, Op.BEFORE: Op.LT}


def visible(table: CustomerTable, visibility: Visibility) -> Mask:
    """Live customers inside the caller's data scope."""
    alive = table.alive[: table.size].copy()
    if visibility.scope is DataScope.ALL:
        return alive
    if visibility.scope is DataScope.DEPARTMENT:
        scope = Leaf("department", Op.IN, tuple(sorted(visibility.departments)))
        nobody = not visibility.departments
    else:
        scope = Leaf("owner", Op.EQUALS, (visibility.member_id,))
        nobody = not visibility.member_id
    if nobody:  # as scope_clause: no departments, or no member, sees nothing
        return np.zeros(table.size, dtype=np.bool_)
    return alive & _leaf(table, scope, alive, datetime.now(UTC))


def matching(table: CustomerTable, node: Node, candidates: Mask, now: datetime) -> Mask:
    """The candidates that satisfy ``node``."""
    return candidates & _node(table, node, candidates, now)


def _node(table: CustomerTable, node: Node, candidates: Mask, now: datetime) -> Mask:
    if isinstance(node, Leaf):
        return _leaf(table, node, candidates, now)
    if node.op == "and":
        mask = candidates.copy()
        for child in sorted(node.children, key=lambda n: _cost(table, n)):
            mask &= _node(table, child, mask, now)
            if not mask.any():
                break
        return mask
    if node.op == "or":
        found = np.zeros(table.size, dtype=np.bool_)
        for child in node.children:
            found |= _node(table, child, candidates, now)
        return found
    return ~_node(table, node.children[0], candidates, now)


def _cost(table: CustomerTable, node: Node) -> int:
    """Leaves that read values one by one last, groups after single leaves."""
    if isinstance(node, Group):
        return 2
    column = table.columns.get(node.field)
    slow = isinstance(column, JsonLists) or (
        isinstance(column, Texts) and node.operator not in (Op.IS_EMPTY, Op.IS_NOT_EMPTY)
    )
    return 3 if slow else 1


def _leaf(table: CustomerTable, leaf: Leaf, candidates: Mask, now: datetime) -> Mask:
    column = table.columns[leaf.field]
    op, values = leaf.operator, leaf.values
    if leaf.field in _TIME_FIELDS:
        op, values = _as_micros(op, values, now)
    elif leaf.field.startswith(CUSTOM_FIELD_PREFIX):
        definition = table.definitions[leaf.field.removeprefix(CUSTOM_FIELD_PREFIX)]
        if definition.type is CustomFieldType.DATE:
            op, values = _as_days(op, values, now)
    elif leaf.field == "store" and op not in (Op.CONTAINS, Op.NOT_CONTAINS):
        values = tuple(str(v).strip().lower() for v in values)
    if isinstance(column, Words) and op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        raise ValueError(f"{op} does not apply to {leaf.field}")
    return column.match(op, values, candidates, table.size)


def _as_micros(op: Op, values: tuple[Any, ...], now: datetime) -> tuple[Op, tuple[Any, ...]]:
    if op is Op.WITHIN_LAST:
        return Op.GTE, (micros(now - values[0]),)
    return op, tuple(micros(v) if isinstance(v, datetime) else v for v in values)


def _as_days(op: Op, values: tuple[Any, ...], now: datetime) -> tuple[Op, tuple[Any, ...]]:
    """Date custom fields compare by day, as their "YYYY-MM-DD" text does in SQL."""
    if op is Op.WITHIN_LAST:
        op, values = Op.GTE, (now - values[0],)
    days = tuple(date_days(v.date().isoformat()) if isinstance(v, datetime) else v for v in values)
    return _DATE_OPS.get(op, op), days
