"""Compiling a condition tree to a portable SQLAlchemy boolean expression.

Works the same on SQLite and PostgreSQL, and agrees with ``evaluate``:

* every leaf is two-valued (never SQL NULL), so NOT and OR behave as in
  Python: a missing value matches ``is_empty``, ``not_equals``,
  ``not_contains``, ``not_in`` and ``has_no_tag`` and nothing else;
* ``contains`` and ``matches_keywords`` are case-insensitive LIKEs with
  ``%``, ``_`` and ``\\`` escaped;
* ``within_last`` compares with ``now - duration`` computed in Python.

Fuzzy keyword matching cannot be expressed in portable SQL and is rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Integer,
    String,
    and_,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
    true,
)

from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Leaf, Node, Op
from crosstalk_common.errors import InvalidArgument

LIKE_ESCAPE = "\\"

LeafCompiler: TypeAlias = Callable[[Op, tuple[Any, ...]], ColumnElement[bool]]
"""Compiles every leaf on one field itself, e.g. tags kept in a separate table."""

ColumnResolver: TypeAlias = ColumnElement[Any] | LeafCompiler


def compile_to_sql(
    node: Node,
    columns: Mapping[str, ColumnResolver],
    *,
    now: datetime | None = None,
    field_path: str = "condition",
) -> ColumnElement[bool]:
    """A WHERE clause for ``node``; ``columns`` maps each field to a column or a compiler.

    ``now`` anchors ``within_last`` (default: the current UTC time). A
    field without a resolver is a programming error (``KeyError``).
    """
    return _Compiler(columns, now or utc_now(), field_path).node(node)


def escape_like(text: str) -> str:
    """``text`` with LIKE wildcards escaped by ``LIKE_ESCAPE``."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def tag_exists_compiler(
    owner_key: ColumnElement[Any], tag_owner_key: ColumnElement[Any], tag_value: ColumnElement[Any]
) -> LeafCompiler:
    """A compiler for tags kept one per row in a link table, using EXISTS subqueries.

    ``owner_key`` is the filtered table's key (``customers.c.id``),
    ``tag_owner_key`` and ``tag_value`` are the link table's columns
    (``customer_tags.c.customer_id``, ``customer_tags.c.tag``).
    """

    def tagged(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        return exists(select(tag_owner_key).where(tag_owner_key == owner_key, *conditions))

    def compile_leaf(op: Op, values: tuple[Any, ...]) -> ColumnElement[bool]:
        if op is Op.IS_EMPTY:
            return not_(tagged())
        if op is Op.IS_NOT_EMPTY:
            return tagged()
        tags = [_bind(tag_value, value) for value in dict.fromkeys(values)]
        if op is Op.HAS_ANY_TAG:
            return tagged(tag_value.in_(tags))
        if op is Op.HAS_ALL_TAGS:
            return and_(*(tagged(tag_value == tag) for tag in tags))
        if op is Op.HAS_NO_TAG:
            return not_(tagged(tag_value.in_(tags)))
        raise ValueError(f"{op} does not apply to tags")

    return compile_leaf


class _Compiler:
    def __init__(self, columns: Mapping[str, ColumnResolver], now: datetime, path: str) -> None:
        self.columns = columns
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.path = path

    def node(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, Leaf):
            return self.leaf(node)
        parts = [self.node(child) for child in node.children]
        if node.op == "and":
            return and_(true(), *parts)
        if node.op == "or":
            return or_(false(), *parts)
        return not_(parts[0])

    def leaf(self, leaf: Leaf) -> ColumnElement[bool]:
        resolver = self.columns.get(leaf.field)
        if resolver is None:
            raise KeyError(f"no column for condition field {leaf.field!r}")
        if leaf.fuzzy:
            raise InvalidArgument.field(
                self.path,
                "fuzzy keyword matching is only available for rules' in-memory evaluation; "
                "set fuzzy to false",
            )
        clause = getattr(resolver, "__clause_element__", None)  # ORM attributes
        column = clause() if callable(clause) else resolver
        if not isinstance(column, ColumnElement):
            return column(leaf.operator, leaf.values)
        return _compile_column_leaf(column, leaf.operator, self._bound(column, leaf))

    def _bound(self, column: ColumnElement[Any], leaf: Leaf) -> tuple[Any, ...]:
        """Values as the column expects them (naive UTC for naive timestamp columns)."""
        if leaf.operator is Op.WITHIN_LAST:
            values: tuple[Any, ...] = (self.now - leaf.values[0],)
        else:
            values = leaf.values
        column_type = column.type
        if isinstance(column_type, DateTime) and not column_type.timezone:
            values = tuple(
                v.astimezone(UTC).replace(tzinfo=None)
                if isinstance(v, datetime) and v.tzinfo
                else v
                for v in values
            )
        return values


def _bind(column: ColumnElement[Any], value: Any) -> ColumnElement[Any]:
    """``value`` as a bound parameter of the column's type.

    Explicit, because on PostgreSQL an untyped IN list takes the type of its
    first value and an INTEGER bind rounds 25.5 to 26: a fraction compared
    with an integer column is bound as a float instead.
    """
    if isinstance(value, float) and isinstance(column.type, Integer):
        return literal(value, Float())
    return literal(value, column.type)


def _compile_column_leaf(
    column: ColumnElement[Any], op: Op, values: tuple[Any, ...]
) -> ColumnElement[bool]:
    present = column.is_not(None)
    is_text = isinstance(column.type, String)
    if op is Op.IS_EMPTY:
        return or_(column.is_(None), column == "") if is_text else column.is_(None)
    if op is Op.IS_NOT_EMPTY:
        return and_(present, column != "") if is_text else present
    if op in (Op.CONTAINS, Op.NOT_CONTAINS, Op.MATCHES_KEYWORDS):
        patterns = [f"%{escape_like(v)}%" for v in values]
        found = or_(
            false(), *(and_(present, column.ilike(p, escape=LIKE_ESCAPE)) for p in patterns)
        )
        return not_(found) if op is Op.NOT_CONTAINS else found
    bound = [_bind(column, v) for v in values]
    if op is Op.EQUALS:
        return and_(present, column == bound[0])
    if op is Op.NOT_EQUALS:
        return or_(column.is_(None), column != bound[0])
    if op is Op.IN:
        return and_(present, column.in_(bound))
    if op is Op.NOT_IN:
        return or_(column.is_(None), column.not_in(bound))
    comparisons: dict[Op, Callable[[], ColumnElement[bool]]] = {
        Op.GT: lambda: column > bound[0],
        Op.GTE: lambda: column >= bound[0],
        Op.LT: lambda: column < bound[0],
        Op.LTE: lambda: column <= bound[0],
        Op.AFTER: lambda: column > bound[0],
        Op.BEFORE: lambda: column < bound[0],
        Op.WITHIN_LAST: lambda: column >= bound[0],
        Op.BETWEEN: lambda: column.between(bound[0], bound[1]),
    }
    if op in comparisons:
        return and_(present, comparisons[op]())
    raise ValueError(f"{op} needs a leaf compiler for field type tags")
