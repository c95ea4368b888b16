"""One customer, with its identities and tags, in one statement built once per scope.

GetCustomer and every single-customer write read a customer by id: the row,
its identities and its tags. Two statements (the row; identities and tags)
cost two trips to the database and two rounds of SQLAlchemy's statement
building and cache-key walking per call, most of what a GetCustomer spends
(issue 14). Here the identities and tags come back in the customer's row as
JSON arrays (correlated subqueries), and the statement is built once per
caller scope, with the tenant and the customer id as bound parameters, so
SQLAlchemy finds it compiled and its cache key already computed. On SQLite
it runs in the event loop's thread (``sqlite_one_trip.in_the_loop``): a
lookup by key costs less than the trip to the connection's thread.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, bindparam, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Select

from crosstalk_common.db.scope import scope_clause
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from crosstalk_common.visibility import Visibility
from customers.adapters.tables import customer_identities, customer_tags, customers

TENANT = "one_customer_tenant"
CUSTOMER = "one_customer_id"


class json_rows(FunctionElement[Any]):  # noqa: N801 - an SQL function, named like one
    """Aggregate: the group's rows as a JSON array of arrays of these columns
    (``[]`` for no rows)."""

    name = "json_rows"
    inherit_cache = True


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    columns = compiler.process(element.clauses, **kw)
    return f"coalesce(json_agg(json_build_array({columns})), '[]'::json)"


_c, _i, _t = customers.c, customer_identities.c, customer_tags.c
_IDENTITIES = type_coerce(
    select(json_rows(_i.channel, _i.store, _i.external_id))
    .where(_i.customer_id == _c.id)
    .scalar_subquery(),
    JSON,
).label("identities_json")
_TAGS = type_coerce(
    select(json_rows(_t.tag))
    .where(_t.tenant_id == _c.tenant_id, _t.customer_id == _c.id)
    .scalar_subquery(),
    JSON,
).label("tags_json")


@lru_cache(maxsize=256)
def one_customer(visibility: Visibility) -> Select[Any]:
    """The customer ``TENANT``/``CUSTOMER`` if ``visibility`` lets its holder see it,
    with ``identities_json`` ([[channel, store, external id], ...]) and ``tags_json``
    ([[tag], ...])."""
    # A lookup by key: on SQLite it runs in the event loop's thread (no trip).
    return in_the_loop(
        select(customers, _IDENTITIES, _TAGS).where(
            _c.tenant_id == bindparam(TENANT),
            _c.id == bindparam(CUSTOMER),
            scope_clause(visibility, owner=_c.owner_member_id, department=_c.department_id),
        )
    )
