"""compile_to_sql against a real table (SQLite, or PostgreSQL with CROSSTALK_TEST_DB=postgres),
and evaluate() agreeing with it row by row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from crosstalk.common.v1 import condition_pb2 as pb
from crosstalk_common.conditions.evaluate import evaluate
from crosstalk_common.conditions.model import FieldSpec, FieldType, Group, Leaf, Node, Op
from crosstalk_common.conditions.parse import parse_condition
from crosstalk_common.conditions.sql import ColumnResolver, compile_to_sql, tag_exists_compiler
from crosstalk_common.errors import InvalidArgument

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

FIELDS = {
    spec.name: spec
    for spec in (
        FieldSpec("name", FieldType.TEXT),
        FieldSpec("notes", FieldType.KEYWORDS_TEXT),
        FieldSpec("score", FieldType.NUMBER),
        FieldSpec("orders", FieldType.NUMBER),
        FieldSpec("created_at", FieldType.TIMESTAMP),
        FieldSpec("vip", FieldType.BOOLEAN),
        FieldSpec("tier", FieldType.ENUM, enum_values=frozenset({"gold", "silver", "bronze"})),
        FieldSpec("tags", FieldType.TAGS),
    )
}


@dataclass(frozen=True)
class Row:
    id: int
    name: str | None
    notes: str | None
    score: float | None
    created_at: datetime | None
    vip: bool | None
    tier: str | None
    tags: frozenset[str]

    @property
    def orders(self) -> int | None:
        """An integer column: 0 to 10, missing for two rows."""
        return None if self.id in (4, 12) else (self.id * 3) % 11

    def facts(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "name": self.name,
            "notes": self.notes,
            "score": self.score,
            "created_at": self.created_at,
            "vip": self.vip,
            "tier": self.tier,
            "tags": set(self.tags),
        }


def _row(
    id: int,
    name: str | None,
    notes: str | None,
    score: float | None,
    age: timedelta | None,
    vip: bool | None,
    tier: str | None,
    *tags: str,
) -> Row:
    created = None if age is None else NOW - age
    return Row(id, name, notes, score, created, vip, tier, frozenset(tags))


ROWS = [
    _row(1, "Anna Schmidt", "Where is my refund?", 10, DAY, True, "gold", "vip", "de"),
    _row(2, "Bob Stone", "refunded already, thanks", 25.5, 3 * DAY, False, "silver", "de"),
    _row(3, "carol 100% real", "Package arrived broken", 0, 10 * DAY, None, "bronze"),
    _row(4, "Dave_Underscore", None, None, None, False, None, "new"),
    _row(5, "", "", -5, 30 * DAY, True, "gold", "vip"),
    _row(6, None, "I want a REFUND now", 100, 2 * HOUR, True, "gold", "vip", "angry"),
    _row(7, "Eve", "refnd please", 50, 8 * DAY, False, "silver", "angry"),
    _row(8, "Frank", "great service", 50, 7 * DAY - HOUR, True, "bronze", "loyal", "de"),
    _row(9, "Grace", "shipping delay", 75.25, 400 * DAY, None, "silver", "loyal"),
    _row(10, "Heidi", "where is my package", 5, DAY + HOUR, False, "bronze"),
    _row(11, "Ivan", "cancel my order", 12, -DAY, False, "gold", "new", "vip"),
    _row(12, "Judy", "refund refund", 99.99, 60 * DAY, True, None, "angry", "loyal"),
    _row(13, "Mallory", "50% off?", 42, 5 * DAY, False, "bronze", "promo"),
    _row(14, "Niaj", "back\\slash", 7, 6 * DAY, None, "silver"),
    _row(15, "Olivia", "Thanks!", 1000, 90 * DAY, True, "gold", "loyal", "vip", "de"),
    _row(16, "Peggy", "invoice missing", 33, 15 * DAY, False, "silver", "de"),
    _row(17, "Rupert", "cancellation", 8, HOUR, True, "bronze", "new"),
    _row(18, "Sybil", None, 60, 20 * DAY, False, "gold", "promo", "angry"),
    _row(19, "Trent", "price_match", 18, 2 * DAY, None, "silver"),
    _row(20, "Victor", "where IS my refund", 25.5, 100 * DAY, True, "bronze", "vip"),
]
ALL_IDS = {row.id for row in ROWS}


@dataclass
class Fixture:
    engine: Engine
    customers: Table
    columns: dict[str, ColumnResolver]

    def ids(self, node: Node) -> set[int]:
        query = select(self.customers.c.id).where(compile_to_sql(node, self.columns, now=NOW))
        with self.engine.connect() as conn:
            return set(conn.scalars(query))


@pytest.fixture(scope="module")
def table(sql_engine: Engine) -> Iterator[Fixture]:
    import uuid

    suffix = uuid.uuid4().hex[:10]
    metadata = MetaData()
    customers = Table(
        f"cond_customers_{suffix}",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(100)),
        Column("notes", Text),
        Column("score", Float),
        Column("orders", Integer),
        Column("created_at", DateTime(timezone=True)),
        Column("vip", Boolean),
        Column("tier", String(20)),
    )
    tags = Table(
        f"cond_customer_tags_{suffix}",
        metadata,
        Column("customer_id", Integer, nullable=False),
        Column("tag", String(50), nullable=False),
    )
    metadata.create_all(sql_engine)
    try:
        with sql_engine.begin() as conn:
            conn.execute(
                customers.insert(),
                [
                    {
                        "id": r.id,
                        "name": r.name,
                        "notes": r.notes,
                        "score": r.score,
                        "orders": r.orders,
                        "created_at": r.created_at,
                        "vip": r.vip,
                        "tier": r.tier,
                    }
                    for r in ROWS
                ],
            )
            conn.execute(
                tags.insert(), [{"customer_id": r.id, "tag": t} for r in ROWS for t in r.tags]
            )
        columns: dict[str, ColumnResolver] = {
            name: customers.c[name]
            for name in ("name", "notes", "score", "orders", "created_at", "vip", "tier")
        }
        columns["tags"] = tag_exists_compiler(customers.c.id, tags.c.customer_id, tags.c.tag)
        yield Fixture(sql_engine, customers, columns)
    finally:
        metadata.drop_all(sql_engine)


def leaf(field: str, op: pb.Operator.ValueType, *values: str, fuzzy: bool = False) -> pb.Condition:
    return pb.Condition(
        leaf=pb.ConditionLeaf(field=field, operator=op, values=list(values), fuzzy=fuzzy)
    )


def group(op: pb.LogicalOperator.ValueType, *conditions: pb.Condition) -> pb.Condition:
    return pb.Condition(group=pb.ConditionGroup(operator=op, conditions=list(conditions)))


def parsed(cond: pb.Condition) -> Node:
    node = parse_condition(cond, FIELDS)
    assert node is not None
    return node


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def but(*ids: int) -> set[int]:
    return ALL_IDS - set(ids)


CASES: list[tuple[str, pb.Condition, set[int]]] = [
    ("text is_empty", leaf("name", pb.OPERATOR_IS_EMPTY), {5, 6}),
    ("text is_not_empty", leaf("name", pb.OPERATOR_IS_NOT_EMPTY), but(5, 6)),
    ("text equals", leaf("name", pb.OPERATOR_EQUALS, "Eve"), {7}),
    ("text equals is exact", leaf("name", pb.OPERATOR_EQUALS, "eve"), set()),
    ("text not_equals", leaf("name", pb.OPERATOR_NOT_EQUALS, "Eve"), but(7)),
    ("text in", leaf("name", pb.OPERATOR_IN, "Eve", "Ivan", "Nobody"), {7, 11}),
    ("text not_in", leaf("name", pb.OPERATOR_NOT_IN, "Eve", "Ivan"), but(7, 11)),
    ("contains ignores case", leaf("name", pb.OPERATOR_CONTAINS, "AN"), {1, 8, 11}),
    ("contains escapes %", leaf("notes", pb.OPERATOR_CONTAINS, "%"), {13}),
    ("contains escapes _", leaf("notes", pb.OPERATOR_CONTAINS, "e_m"), {19}),
    ("contains escapes \\", leaf("notes", pb.OPERATOR_CONTAINS, "\\"), {14}),
    (
        "not_contains",
        leaf("notes", pb.OPERATOR_NOT_CONTAINS, "refund"),
        but(1, 2, 6, 12, 20),
    ),
    ("keywords text is_empty", leaf("notes", pb.OPERATOR_IS_EMPTY), {4, 5, 18}),
    (
        "matches_keywords",
        leaf("notes", pb.OPERATOR_MATCHES_KEYWORDS, "refund", "cancel"),
        {1, 2, 6, 11, 12, 17, 20},
    ),
    ("enum in", leaf("tier", pb.OPERATOR_IN, "gold", "silver"), but(3, 4, 8, 10, 12, 13, 17, 20)),
    (
        "enum not_in",
        leaf("tier", pb.OPERATOR_NOT_IN, "gold", "silver"),
        {3, 4, 8, 10, 12, 13, 17, 20},
    ),
    ("enum is_empty", leaf("tier", pb.OPERATOR_IS_EMPTY), {4, 12}),
    ("number equals", leaf("score", pb.OPERATOR_EQUALS, "25.5"), {2, 20}),
    ("number not_equals", leaf("score", pb.OPERATOR_NOT_EQUALS, "25.5"), but(2, 20)),
    ("number gt", leaf("score", pb.OPERATOR_GT, "50"), {6, 9, 12, 15, 18}),
    ("number gte", leaf("score", pb.OPERATOR_GTE, "50"), {6, 7, 8, 9, 12, 15, 18}),
    ("number lt", leaf("score", pb.OPERATOR_LT, "10"), {3, 5, 10, 14, 17}),
    ("number lte", leaf("score", pb.OPERATOR_LTE, "10"), {1, 3, 5, 10, 14, 17}),
    ("number between", leaf("score", pb.OPERATOR_BETWEEN, "10", "25.5"), {1, 2, 11, 19, 20}),
    ("number is_empty", leaf("score", pb.OPERATOR_IS_EMPTY), {4}),
    ("fraction vs integer column", leaf("orders", pb.OPERATOR_LTE, "2.5"), {8, 11, 15, 19}),
    ("fraction in integer column", leaf("orders", pb.OPERATOR_IN, "2.5", "3"), {1}),
    ("number is_not_empty", leaf("score", pb.OPERATOR_IS_NOT_EMPTY), but(4)),
    (
        "timestamp before",
        leaf("created_at", pb.OPERATOR_BEFORE, iso(NOW - 30 * DAY)),
        {9, 12, 15, 20},
    ),
    ("timestamp after", leaf("created_at", pb.OPERATOR_AFTER, iso(NOW)), {11}),
    (
        "timestamp between",
        leaf("created_at", pb.OPERATOR_BETWEEN, iso(NOW - 10 * DAY), iso(NOW - 5 * DAY)),
        {3, 7, 8, 13, 14},
    ),
    (
        "within_last P7D",
        leaf("created_at", pb.OPERATOR_WITHIN_LAST, "P7D"),
        {1, 2, 6, 8, 10, 11, 13, 14, 17, 19},
    ),
    ("within_last PT24H", leaf("created_at", pb.OPERATOR_WITHIN_LAST, "PT24H"), {1, 6, 11, 17}),
    ("timestamp is_empty", leaf("created_at", pb.OPERATOR_IS_EMPTY), {4}),
    ("boolean equals", leaf("vip", pb.OPERATOR_EQUALS, "true"), {1, 5, 6, 8, 12, 15, 17, 20}),
    (
        "boolean not_equals",
        leaf("vip", pb.OPERATOR_NOT_EQUALS, "true"),
        but(1, 5, 6, 8, 12, 15, 17, 20),
    ),
    (
        "has_any_tag",
        leaf("tags", pb.OPERATOR_HAS_ANY_TAG, "vip", "angry"),
        {1, 5, 6, 7, 11, 12, 15, 18, 20},
    ),
    ("has_all_tags", leaf("tags", pb.OPERATOR_HAS_ALL_TAGS, "vip", "de"), {1, 15}),
    (
        "has_no_tag",
        leaf("tags", pb.OPERATOR_HAS_NO_TAG, "vip", "de"),
        {3, 4, 7, 9, 10, 12, 13, 14, 17, 18, 19},
    ),
    ("tags is_empty", leaf("tags", pb.OPERATOR_IS_EMPTY), {3, 10, 14, 19}),
    ("tags is_not_empty", leaf("tags", pb.OPERATOR_IS_NOT_EMPTY), but(3, 10, 14, 19)),
    (
        "and",
        group(
            pb.LOGICAL_OPERATOR_AND,
            leaf("tier", pb.OPERATOR_EQUALS, "gold"),
            leaf("score", pb.OPERATOR_GT, "50"),
        ),
        {6, 15, 18},
    ),
    (
        "or",
        group(
            pb.LOGICAL_OPERATOR_OR,
            leaf("name", pb.OPERATOR_IS_EMPTY),
            leaf("tags", pb.OPERATOR_HAS_ALL_TAGS, "vip", "de"),
        ),
        {1, 5, 6, 15},
    ),
    (
        "not keeps rows with missing values",
        group(pb.LOGICAL_OPERATOR_NOT, leaf("score", pb.OPERATOR_GT, "50")),
        but(6, 9, 12, 15, 18),
    ),
    (
        "not over or",
        group(
            pb.LOGICAL_OPERATOR_NOT,
            group(
                pb.LOGICAL_OPERATOR_OR,
                leaf("tags", pb.OPERATOR_HAS_ANY_TAG, "vip"),
                leaf("name", pb.OPERATOR_IS_EMPTY),
            ),
        ),
        but(1, 5, 6, 11, 15, 20),
    ),
]


@pytest.mark.parametrize(("cond", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_operator_selects_exactly_the_expected_rows(
    table: Fixture, cond: pb.Condition, expected: set[int]
) -> None:
    node = parsed(cond)
    assert table.ids(node) == expected
    assert {r.id for r in ROWS if evaluate(node, r.facts(), now=NOW)} == expected


def _probe_values(field: str) -> list[Any]:
    """Values taken from the rows (and around them) to probe each operator with."""
    present = [getattr(r, field) for r in ROWS if getattr(r, field) not in (None, "")]
    if field == "tags":
        return [*sorted({tag for r in ROWS for tag in r.tags}), "unknown"]
    if field in ("name", "notes"):
        words = {w for text in present for w in text.split()[:2]}
        return sorted(words | {"a", "RE", "%", "_", "zzz"})
    if field == "tier":
        return ["gold", "silver", "bronze"]
    if field == "vip":
        return [True, False]
    if field == "orders":
        return sorted(set(present) | {-1, 2.5, 5.5, 100})
    if field == "created_at":
        return sorted(set(present) | {NOW, NOW - 7 * DAY, NOW - 365 * DAY})
    return sorted(set(present) | {0, 50, 10_000})


def _leaves_for_every_operator() -> Iterator[Leaf]:
    durations = [timedelta(hours=1), DAY, 7 * DAY, 30 * DAY, 1000 * DAY]
    for name, spec in FIELDS.items():
        probes = _probe_values(name)
        for op in spec.allowed_operators:
            if op in (Op.IS_EMPTY, Op.IS_NOT_EMPTY):
                yield Leaf(name, op)
            elif op is Op.WITHIN_LAST:
                yield from (Leaf(name, op, (d,)) for d in durations)
            elif op is Op.BETWEEN:
                yield from (
                    Leaf(name, op, (low, high))
                    for low, high in zip(probes, probes[3:], strict=False)
                )
            elif op in (Op.IN, Op.NOT_IN, Op.HAS_ANY_TAG, Op.HAS_ALL_TAGS, Op.HAS_NO_TAG):
                yield from (Leaf(name, op, tuple(probes[i : i + 2])) for i in range(len(probes)))
            elif op is Op.MATCHES_KEYWORDS:
                yield from (Leaf(name, op, (p, "zzz")) for p in probes)
            else:
                yield from (Leaf(name, op, (p,)) for p in probes)


def test_evaluate_agrees_with_sql_for_every_non_fuzzy_operator(table: Fixture) -> None:
    checked = 0
    for base in _leaves_for_every_operator():
        for node in (base, Group("not", (base,))):
            in_sql = table.ids(node)
            in_memory = {r.id for r in ROWS if evaluate(node, r.facts(), now=NOW)}
            assert in_sql == in_memory, node
            checked += 1
    covered = {leaf.operator for leaf in _leaves_for_every_operator()}
    assert covered == set(Op)
    assert checked > 300


def test_fuzzy_keywords_cannot_run_as_sql(table: Fixture) -> None:
    node = parsed(leaf("notes", pb.OPERATOR_MATCHES_KEYWORDS, "refund", fuzzy=True))
    with pytest.raises(InvalidArgument) as caught:
        compile_to_sql(node, table.columns)
    assert (
        "only available for rules' in-memory evaluation" in caught.value.violations[0].description
    )
    assert {r.id for r in ROWS if evaluate(node, r.facts(), now=NOW)} == {1, 2, 6, 7, 12, 20}


def test_a_field_without_a_column_is_a_programming_error(table: Fixture) -> None:
    with pytest.raises(KeyError, match="nope"):
        compile_to_sql(Leaf("nope", Op.IS_EMPTY), table.columns)
