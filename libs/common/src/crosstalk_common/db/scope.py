"""The data scope as part of a query's WHERE clause."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, true
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility


def scope_clause(visibility: Visibility, *, owner: Any, department: Any) -> ColumnElement[bool]:
    """Rows the caller may see: all, its departments' rows, or the rows it owns."""
    if visibility.scope is DataScope.ALL:
        return true()
    if visibility.scope is DataScope.DEPARTMENT:
        if not visibility.departments:
            return false()
        clause: ColumnElement[bool] = department.in_(sorted(visibility.departments))
        return clause
    if not visibility.member_id:
        return false()
    owned: ColumnElement[bool] = owner == visibility.member_id
    return owned
