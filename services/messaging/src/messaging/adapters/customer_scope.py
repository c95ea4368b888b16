"""The caller's data scope over anything that belongs to a customer (core_loop §6).

Owner and department come from the customer: messaging keeps them in
``customer_snapshots`` (fed by customer events), so a conversation, a message, a case or a
CSAT survey is visible to a caller exactly when its customer is, as in customers.

Use ``visible_customer(visibility, tenant_id, customer_column)`` in any query's WHERE with
the column that holds the ``customers/{id}`` name:

    select(cases).where(cases.c.tenant_id == t, visible_customer(vis, t, cases.c.customer))

A customer messaging has no snapshot of yet is visible only to callers who see everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select, true
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.db.scope import scope_clause
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from messaging.adapters.tables import customer_snapshots


def visible_customer(
    visibility: Visibility, tenant_id: str, customer_column: Any
) -> ColumnElement[bool]:
    """Rows whose customer (``customer_column``: ``customers/{id}``) the caller may see."""
    if visibility.scope is DataScope.ALL:
        return true()
    # An alias, so that the filter also works on a query over customer_snapshots itself.
    snapshot = customer_snapshots.alias("scope_snapshot").c
    clause: ColumnElement[bool] = exists(
        select(1).where(
            snapshot.tenant_id == tenant_id,
            snapshot.customer == customer_column,
            scope_clause(
                visibility, owner=snapshot.owner_member_id, department=snapshot.department_id
            ),
        )
    )
    return clause


def visible_owner(visibility: Visibility, *, owner: Any, department: Any) -> ColumnElement[bool]:
    """The same rule over columns that copy the customer's owner and department ids (as
    ``conversations.owner_member_id`` / ``department_id`` do, kept by the projection)."""
    return scope_clause(visibility, owner=owner, department=department)
