"""The caller's data scope over what rules keeps about a customer (runs, the
evaluation log, projections).

A customer's owner and department are facts of its projection
(``customer_projections.facts``: ``customer.owner`` = ``members/{id}``,
``customer.department`` = ``departments/{id}``, from the CustomerSnapshot of
customer events), so a row is visible exactly when the customer it names is,
as in customers: ``visible_customer(visibility, tenant_id, rule_runs.c.customer)``
goes into the query's WHERE. A customer rules holds no projection of (none
yet, or deleted) is visible only to callers who see everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select, true
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.db.scope import scope_clause
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from rules.adapters.tables import customer_projections


def _as_named(visibility: Visibility) -> Visibility:
    """The same scope with the resource names the projection's facts hold."""
    return Visibility(
        visibility.scope,
        f"members/{visibility.member_id}" if visibility.member_id else "",
        frozenset(f"departments/{d}" for d in visibility.departments),
    )


def visible_customer(
    visibility: Visibility, tenant_id: str, customer_column: Any
) -> ColumnElement[bool]:
    """Rows whose ``customer_column`` (``customers/{id}``) the caller may see."""
    if visibility.scope is DataScope.ALL:
        return true()
    projection = customer_projections.alias("scope_projection")
    facts = projection.c.facts
    found: ColumnElement[bool] = exists(
        select(1).where(
            projection.c.tenant_id == tenant_id,
            projection.c.customer == customer_column,
            scope_clause(
                _as_named(visibility),
                owner=facts["customer.owner"].as_string(),
                department=facts["customer.department"].as_string(),
            ),
        )
    )
    return found
