"""measure rows keyed by (tenant, measure, kind, hour, dims_key[, bucket]): a
query reads one kind over a range of hours, which is now one stretch of the
primary key; the kind indexes go (the key's prefix does their work). On
SQLite the tables are WITHOUT ROWID, so the rows live in the key's B-tree:
one B-tree written per row instead of three, and a range read without a
lookup per row

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The row dimensions, in column order (as in 0003).
_DIMENSIONS = (
    "team",
    "department",
    "agent",
    "market",
    "store",
    "channel",
    "language",
    "tier",
    "rule",
    "case_type",
    "stage",
    "outcome",
    "currency",
)


def _columns(key_tail: list[sa.Column], values: list[sa.Column]) -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("measure", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        *key_tail,
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("owner_member_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("department_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("tag", sa.String(length=120), nullable=False, server_default=""),
        *(
            sa.Column(name, sa.String(length=120), nullable=False, server_default="")
            for name in _DIMENSIONS
        ),
        *values,
    ]


def _tables() -> dict[str, tuple[list[sa.Column], list[sa.Column]]]:
    return {
        "measure_hours": (
            [sa.Column("dims_key", sa.String(length=40), nullable=False)],
            [
                sa.Column("count", sa.BigInteger(), nullable=False),
                sa.Column("total", sa.Float(), nullable=False),
            ],
        ),
        "measure_buckets": (
            [
                sa.Column("dims_key", sa.String(length=40), nullable=False),
                sa.Column("bucket", sa.SmallInteger(), nullable=False),
            ],
            [sa.Column("count", sa.BigInteger(), nullable=False)],
        ),
    }


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, (key_tail, values) in _tables().items():
        key = ["tenant_id", "measure", "kind", "hour", *(c.name for c in key_tail)]
        op.drop_index(f"ix_{name}_kind", table_name=name)
        if not sqlite:
            op.drop_constraint(f"pk_{name}", name, type_="primary")
            op.create_primary_key(f"pk_{name}", name, key)
            continue
        # SQLite cannot change a key or drop the rowid in place: a new table.
        op.rename_table(name, f"{name}_old")
        columns = _columns(key_tail, values)
        op.create_table(
            name,
            *columns,
            sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"),
            sqlite_with_rowid=False,
        )
        names = ", ".join(c.name for c in columns)
        op.execute(f"INSERT INTO {name} ({names}) SELECT {names} FROM {name}_old")  # noqa: S608
        op.drop_table(f"{name}_old")


def downgrade() -> None:
    raise NotImplementedError("reporting's read models are rebuilt from the stream")
