"""pairs_in: the rows of a set of (first, second) keys, searched through the key's index."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.dialects import sqlite

from crosstalk_common.db.key_pairs import pairs_in

metadata = MetaData()
facts = Table(
    "facts",
    metadata,
    Column("tenant_id", String, primary_key=True),
    Column("subject", String, primary_key=True),
    Column("facts", String),
)
ROWS = [(f"t{t}", f"s{s}", f"{t}/{s}") for t in range(4) for s in range(50)]


def _database() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE facts (tenant_id TEXT, subject TEXT, facts TEXT,"
        " PRIMARY KEY (tenant_id, subject))"
    )
    db.executemany("INSERT INTO facts VALUES (?, ?, ?)", ROWS)
    return db


def _sql(pairs: list[tuple[str, str]]) -> tuple[str, tuple[object, ...]]:
    stmt = select(facts.c.tenant_id, facts.c.subject).where(
        pairs_in(facts.c.tenant_id, facts.c.subject, pairs)
    )
    compiled = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True})
    return str(compiled), tuple(compiled.params[name] for name in compiled.positiontup or ())


keys = st.tuples(
    st.sampled_from(["t0", "t1", "t2", "t9"]), st.sampled_from(["s0", "s7", "s49", "x"])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(keys, min_size=1, max_size=8))
def test_it_reads_exactly_the_rows_of_the_keys(pairs: list[tuple[str, str]]) -> None:
    db = _database()
    text, params = _sql(pairs)
    found = set(db.execute(text, params).fetchall())
    assert found == {(t, s) for t, s, _ in ROWS if (t, s) in set(pairs)}


def test_sqlite_searches_the_key_index_for_one_tenant_or_several() -> None:
    db = _database()
    for pairs in ([("t1", "s1"), ("t1", "s2"), ("t1", "s3")], [("t1", "s1"), ("t2", "s2")]):
        text, params = _sql(pairs)
        plan = [row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + text, params)]
        assert not any(step.startswith("SCAN facts") for step in plan), plan
        assert any(step.startswith("SEARCH facts USING") for step in plan), plan


def test_the_row_value_form_it_replaces_scans_on_sqlite() -> None:
    """Why it exists: SQLite answers (a, b) IN (VALUES ...) with a scan."""
    db = _database()
    plan = [
        row[-1]
        for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM facts WHERE (tenant_id, subject) IN"
            " (VALUES (?, ?), (?, ?))",
            ("t1", "s1", "t1", "s2"),
        )
    ]
    assert any(step.startswith("SCAN facts") for step in plan), plan
