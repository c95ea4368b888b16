"""A change feed of customers for the in-memory filter index.

``customer_changes`` holds one row per customer: the sequence number of the
last write that touched the customer, its tags or its channel identities.
Triggers keep it, so no write path can forget it. On SQLite (one writer at
a time) the number is a counter that grows in commit order. On PostgreSQL
it is the writing transaction's id: a reader that remembers the oldest
transaction still running when it last read (``txid_snapshot_xmin``) and
re-reads every row from there on misses no commit, whatever the order in
which concurrent transactions commit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> what goes in customer_changes.customer_id: the customer's id, or for
# custom field definitions "fields:" and the tenant (the index reloads them).
_WATCHED = {
    "customers": "{row}id",
    "customer_tags": "{row}customer_id",
    "customer_identities": "{row}customer_id",
    "custom_field_definitions": "'fields:' || {row}tenant_id",
}
_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "customer_changes",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_customer_changes_tenant_seq", "customer_changes", ["tenant_id", "seq"])
    # SQLite's triggers take max(seq) + 1.
    op.create_index("ix_customer_changes_seq", "customer_changes", ["seq"])
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()
    # Every existing customer counts as changed once.
    op.execute(
        "INSERT INTO customer_changes (customer_id, tenant_id, seq) SELECT id, tenant_id, 1 "
        "FROM customers"
    )


def _sqlite_triggers() -> None:
    for table, key in _WATCHED.items():
        for event in _EVENTS:
            row = "OLD" if event == "DELETE" else "NEW"
            changed = key.format(row=f"{row}.")
            op.execute(
                f"CREATE TRIGGER customer_changes_{table}_{event.lower()} "  # noqa: S608 (constants)
                f"AFTER {event} ON {table} FOR EACH ROW BEGIN "
                "INSERT INTO customer_changes (customer_id, tenant_id, seq) "
                f"VALUES ({changed}, {row}.tenant_id, "
                "(SELECT coalesce(max(seq), 0) + 1 FROM customer_changes)) "
                "ON CONFLICT (customer_id) DO UPDATE SET seq = excluded.seq; END"
            )


def _postgresql_triggers() -> None:
    for table, key in _WATCHED.items():
        # Statement-level triggers with transition tables: one INSERT per
        # statement, however many rows it wrote.
        op.execute(
            f"CREATE FUNCTION customer_changes_from_{table}() RETURNS trigger "  # noqa: S608 (constants)
            "LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO customer_changes (customer_id, tenant_id, seq) "
            f"SELECT DISTINCT ON (1) {key.format(row='')}, tenant_id, txid_current() "
            "FROM changed_rows "
            "ORDER BY 1 "
            # A customer written twice in one transaction (its tags, then its
            # row) keeps the same transaction id: no second row version.
            "ON CONFLICT (customer_id) DO UPDATE SET seq = EXCLUDED.seq "
            "WHERE customer_changes.seq <> EXCLUDED.seq; "
            "RETURN NULL; END $$"
        )
        for event in _EVENTS:
            rows = "OLD TABLE" if event == "DELETE" else "NEW TABLE"
            op.execute(
                f"CREATE TRIGGER customer_changes_{table}_{event.lower()} AFTER {event} "
                f"ON {table} REFERENCING {rows} AS changed_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION customer_changes_from_{table}()"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _WATCHED:
        for event in _EVENTS:
            trigger = f"customer_changes_{table}_{event.lower()}"
            op.execute(
                f"DROP TRIGGER IF EXISTS {trigger} ON {table}"
                if postgresql
                else f"DROP TRIGGER IF EXISTS {trigger}"
            )
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS customer_changes_from_{table}()")
    op.drop_index("ix_customer_changes_seq", table_name="customer_changes")
    op.drop_index("ix_customer_changes_tenant_seq", table_name="customer_changes")
    op.drop_table("customer_changes")
