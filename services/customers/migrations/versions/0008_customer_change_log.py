"""The change feed becomes an append-only log: cheaper for every write.

0007's feed kept one row per customer and upserted it on every write: on
SQLite that cost about 40 µs per written row (a lookup of the last number
and three index updates), on PostgreSQL about 25 µs (a new row version and
three index entries), doubling the cost of bulk jobs and imports. Now a
write only appends: on SQLite one row at the end of a rowid table (``seq`` is
the rowid: no index, no lookup), on PostgreSQL one row per written row in a
statement-level trigger, with one index entry at the end of ``seq``.

``seq`` keeps its meaning: on SQLite a number growing in commit order, on
PostgreSQL the writing transaction's id (readers go on from
``txid_snapshot_xmin``). A customer written several times appears several
times; readers take each once. ``written_at`` (Unix seconds) lets
housekeeping delete old rows; ``customer_change_log_horizon`` records up to
which ``seq`` rows were deleted, so a reader that had not read them knows to
load the tenant afresh.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 20:00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> what goes in customer_id: the customer's id, or for custom field
# definitions "fields:" and the tenant (the index reloads them).
_WATCHED = {
    "customers": "{row}id",
    "customer_tags": "{row}customer_id",
    "customer_identities": "{row}customer_id",
    "custom_field_definitions": "'fields:' || {row}tenant_id",
}
_EVENTS = ("INSERT", "UPDATE", "DELETE")


def _drop_triggers(postgresql: bool, prefix: str, *, functions: bool) -> None:
    for table in _WATCHED:
        for event in _EVENTS:
            trigger = f"{prefix}_{table}_{event.lower()}"
            op.execute(
                f"DROP TRIGGER IF EXISTS {trigger} ON {table}"
                if postgresql
                else f"DROP TRIGGER IF EXISTS {trigger}"
            )
        if postgresql and functions:
            op.execute(f"DROP FUNCTION IF EXISTS {prefix}_from_{table}()")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _drop_triggers(postgresql, "customer_changes", functions=True)
    op.drop_index("ix_customer_changes_seq", table_name="customer_changes")
    op.drop_index("ix_customer_changes_tenant_seq", table_name="customer_changes")
    op.drop_table("customer_changes")
    op.create_table(
        "customer_change_log",
        # SQLite: INTEGER PRIMARY KEY, the rowid itself (appended, never looked up).
        # PostgreSQL: no key (one transaction id for many rows), an index instead.
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=not postgresql,
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("written_at", sa.BigInteger(), nullable=False),
    )
    if postgresql:
        op.create_index("ix_customer_change_log_seq", "customer_change_log", ["seq"])
    op.create_table(
        "customer_change_log_horizon",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO customer_change_log_horizon (id, pruned_through) VALUES (1, 0)")
    if postgresql:
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table, key in _WATCHED.items():
        for event in _EVENTS:
            row = "OLD" if event == "DELETE" else "NEW"
            op.execute(
                f"CREATE TRIGGER customer_change_log_{table}_{event.lower()} "  # noqa: S608 (constants)
                f"AFTER {event} ON {table} FOR EACH ROW BEGIN "
                "INSERT INTO customer_change_log (customer_id, tenant_id, written_at) "
                f"VALUES ({key.format(row=f'{row}.')}, {row}.tenant_id, "
                "CAST(strftime('%s', 'now') AS INTEGER)); END"
            )


def _postgresql_triggers() -> None:
    for table, key in _WATCHED.items():
        # One INSERT per statement, however many rows it wrote; rows are not
        # made distinct here (readers do), which costs less than sorting them.
        op.execute(
            f"CREATE FUNCTION customer_change_log_from_{table}() RETURNS trigger "  # noqa: S608 (constants)
            "LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO customer_change_log (seq, customer_id, tenant_id, written_at) "
            f"SELECT txid_current(), {key.format(row='')}, tenant_id, "
            "extract(epoch FROM now())::bigint FROM changed_rows; "
            "RETURN NULL; END $$"
        )
        for event in _EVENTS:
            rows = "OLD TABLE" if event == "DELETE" else "NEW TABLE"
            op.execute(
                f"CREATE TRIGGER customer_change_log_{table}_{event.lower()} AFTER {event} "
                f"ON {table} REFERENCING {rows} AS changed_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION customer_change_log_from_{table}()"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _drop_triggers(postgresql, "customer_change_log", functions=True)
    op.drop_table("customer_change_log_horizon")
    if postgresql:
        op.drop_index("ix_customer_change_log_seq", table_name="customer_change_log")
    op.drop_table("customer_change_log")
    # 0007's feed, as 0007 builds it (every customer counts as changed once).
    spec = importlib.util.spec_from_file_location(
        "customers_migration_0007", Path(__file__).with_name("0007_customer_change_feed.py")
    )
    assert spec is not None
    assert spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    previous.upgrade()
