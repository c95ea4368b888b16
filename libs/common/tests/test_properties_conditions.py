"""Property-based test (hypothesis, issue 19) of the condition tree (ADR 0004).

Random trees (AND, OR, NOT, every operator a field type allows, values on both sides
of the rows' values, LIKE wildcards in text) are parsed from the proto, compiled to
SQL and run on random rows in a real table (SQLite, or PostgreSQL with
CROSSTALK_TEST_DB=postgres), and evaluated in memory on the same rows' facts: the two
select the same rows. Text is ASCII: SQLite's LIKE folds the case of ASCII letters
only, so non-ASCII case folding is outside the promise of ``compile_to_sql``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
    delete,
    select,
)

from crosstalk.common.v1 import condition_pb2 as pb
from crosstalk_common.conditions.evaluate import evaluate
from crosstalk_common.conditions.model import FieldSpec, FieldType
from crosstalk_common.conditions.parse import parse_condition
from crosstalk_common.conditions.sql import ColumnResolver, compile_to_sql, tag_exists_compiler
from crosstalk_common.errors import InvalidArgument

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
TIERS = ("gold", "silver", "bronze")
TAGS = ("vip", "angry", "de", "loyal")
WORDS = ("refund", "Refund", "where", "50%", "price_match", "back\\slash", "a_b", "100% real")

FIELDS = {
    spec.name: spec
    for spec in (
        FieldSpec("name", FieldType.TEXT),
        FieldSpec("notes", FieldType.KEYWORDS_TEXT),
        FieldSpec("score", FieldType.NUMBER),
        FieldSpec("orders", FieldType.NUMBER),
        FieldSpec("created_at", FieldType.TIMESTAMP),
        FieldSpec("vip", FieldType.BOOLEAN),
        FieldSpec("tier", FieldType.ENUM, enum_values=frozenset(TIERS)),
        FieldSpec("tags", FieldType.TAGS),
    )
}

# -- rows ----------------------------------------------------------------------------------
text = st.one_of(
    st.none(),
    st.just(""),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
    st.text(st.sampled_from("abAB%_\\ 5"), max_size=6),
)
scores = st.one_of(st.none(), st.sampled_from([-5.0, 0.0, 10.0, 25.5, 99.99]), st.integers(-9, 9))
ages = st.one_of(st.none(), st.integers(-48, 24 * 40).map(lambda h: timedelta(hours=h)))


@st.composite
def rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for n in range(draw(st.integers(1, 8))):
        age = draw(ages)
        out.append(
            {
                "id": n + 1,
                "name": draw(text),
                "notes": draw(text),
                "score": draw(scores),
                "orders": draw(st.one_of(st.none(), st.integers(0, 5))),
                "created_at": None if age is None else NOW - age,
                "vip": draw(st.one_of(st.none(), st.booleans())),
                "tier": draw(st.one_of(st.none(), st.sampled_from(TIERS))),
                "tags": draw(st.frozensets(st.sampled_from(TAGS), max_size=3)),
            }
        )
    return out


# -- conditions ----------------------------------------------------------------------------
O = pb.Operator  # noqa: E741 - the proto's enum, short


def _number(draw: st.DrawFn) -> str:
    return str(draw(st.sampled_from([-5, 0, 3, 10, 25.5, 99.99, 100])))


def _time(draw: st.DrawFn) -> str:
    hours = draw(st.integers(-48, 24 * 40))
    return (NOW - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


@st.composite
def leaves(draw: st.DrawFn) -> pb.Condition:
    name = draw(st.sampled_from(sorted(FIELDS)))
    spec = FIELDS[name]
    op = draw(st.sampled_from(sorted(spec.allowed_operators)))
    code = O.Value(f"OPERATOR_{op.name}")
    values: list[str] = []
    if op.name in ("IS_EMPTY", "IS_NOT_EMPTY"):
        pass
    elif spec.type is FieldType.TAGS:
        values = draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=3))
    elif spec.type is FieldType.ENUM:
        size = (1, 1) if op.name in ("EQUALS", "NOT_EQUALS") else (1, 3)
        values = draw(st.lists(st.sampled_from(TIERS), min_size=size[0], max_size=size[1]))
    elif spec.type is FieldType.BOOLEAN:
        values = [draw(st.sampled_from(["true", "false"]))]
    elif spec.type is FieldType.NUMBER:
        count = {"BETWEEN": 2, "IN": 3, "NOT_IN": 3}.get(op.name, 1)
        values = sorted((_number(draw) for _ in range(count)), key=float)
        if op.name in ("IN", "NOT_IN"):
            values = values[: draw(st.integers(1, 3))]
    elif spec.type is FieldType.TIMESTAMP:
        if op.name == "WITHIN_LAST":
            values = [draw(st.sampled_from(["PT1H", "P1D", "P7D", "P30D", "PT90M"]))]
        else:
            count = 2 if op.name == "BETWEEN" else 1
            values = sorted(_time(draw) for _ in range(count))
    else:  # text
        word = st.one_of(
            st.sampled_from(WORDS), st.text(st.sampled_from("abAB%_\\ 5"), min_size=1, max_size=4)
        )
        many = op.name in ("IN", "NOT_IN", "MATCHES_KEYWORDS")
        values = draw(st.lists(word, min_size=1, max_size=3 if many else 1))
    return pb.Condition(leaf=pb.ConditionLeaf(field=name, operator=code, values=values))


def trees() -> st.SearchStrategy[pb.Condition]:
    def groups(children: st.SearchStrategy[pb.Condition]) -> st.SearchStrategy[pb.Condition]:
        logical = st.sampled_from([pb.LOGICAL_OPERATOR_AND, pb.LOGICAL_OPERATOR_OR])
        return st.one_of(
            st.builds(
                lambda op, kids: pb.Condition(
                    group=pb.ConditionGroup(operator=op, conditions=kids)
                ),
                logical,
                st.lists(children, min_size=1, max_size=3),
            ),
            children.map(
                lambda kid: pb.Condition(
                    group=pb.ConditionGroup(operator=pb.LOGICAL_OPERATOR_NOT, conditions=[kid])
                )
            ),
        )

    return st.recursive(leaves(), groups, max_leaves=6)


# -- the table -----------------------------------------------------------------------------
class World:
    def __init__(self, engine: Engine) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.engine = engine
        self.metadata = MetaData()
        self.table = Table(
            f"prop_customers_{suffix}",
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("name", String(100)),
            Column("notes", Text),
            Column("score", Float),
            Column("orders", Integer),
            Column("created_at", DateTime(timezone=True)),
            Column("vip", Boolean),
            Column("tier", String(20)),
        )
        self.tags = Table(
            f"prop_customer_tags_{suffix}",
            self.metadata,
            Column("customer_id", Integer, nullable=False),
            Column("tag", String(50), nullable=False),
        )
        self.columns: dict[str, ColumnResolver] = {
            name: self.table.c[name]
            for name in ("name", "notes", "score", "orders", "created_at", "vip", "tier")
        }
        self.columns["tags"] = tag_exists_compiler(
            self.table.c.id, self.tags.c.customer_id, self.tags.c.tag
        )

    def seed(self, people: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(self.tags))
            conn.execute(delete(self.table))
            conn.execute(
                self.table.insert(), [{k: v for k, v in p.items() if k != "tags"} for p in people]
            )
            links = [{"customer_id": p["id"], "tag": t} for p in people for t in p["tags"]]
            if links:
                conn.execute(self.tags.insert(), links)

    def selected(self, condition: pb.Condition) -> set[int]:
        node = parse_condition(condition, FIELDS, allow_fuzzy=False)
        assert node is not None
        query = select(self.table.c.id).where(compile_to_sql(node, self.columns, now=NOW))
        with self.engine.connect() as conn:
            return set(conn.scalars(query))


@pytest.fixture(scope="module")
def world(sql_engine: Engine) -> Iterator[World]:
    w = World(sql_engine)
    w.metadata.create_all(sql_engine)
    try:
        yield w
    finally:
        w.metadata.drop_all(sql_engine)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(people=rows(), condition=trees())
def test_sql_and_in_memory_evaluation_select_the_same_rows(
    world: World, people: list[dict[str, Any]], condition: pb.Condition
) -> None:
    try:
        node = parse_condition(condition, FIELDS, allow_fuzzy=False)
    except InvalidArgument as bad:  # refused whole, naming where
        violations = [v.field for v in bad.violations]
    else:
        violations = []
    if violations:
        assert all(f.startswith("condition") for f in violations), violations
        return
    assert node is not None
    world.seed(people)
    in_memory = {p["id"] for p in people if evaluate(node, _facts(p), now=NOW)}
    assert world.selected(condition) == in_memory, node


def _facts(person: dict[str, Any]) -> dict[str, Any]:
    return {**person, "tags": set(person["tags"])}
