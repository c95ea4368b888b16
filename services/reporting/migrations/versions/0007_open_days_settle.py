"""measure_open_days and measure_open_day_buckets: the day rows of days still
open, which every fold adds to; once a day is over its rows move, in the key's
order, to measure_days / measure_day_buckets (settled), so a query over many
days reads a few pages per day. measure_day_shifts.settled_through is the last
settled stored day of each shift (-1: none yet; the rows already in the day
tables stay there)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The row dimensions (reporting.domain.catalogue.ROW_DIMENSIONS when 0003 was written).
_DIMENSIONS = (
    "team", "department", "agent", "market", "store", "channel", "language",
    "tier", "rule", "case_type", "stage", "outcome", "currency",
)  # fmt: skip


def _columns(with_bucket: bool) -> list[sa.Column]:
    columns = [
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("measure", sa.String(length=40), nullable=False),
        sa.Column("shift", sa.SmallInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("dims_key", sa.String(length=40), nullable=False),
    ]
    if with_bucket:
        columns.append(sa.Column("bucket", sa.SmallInteger(), nullable=False))
    columns += [
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("owner_member_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("department_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("tag", sa.String(length=120), nullable=False, server_default=""),
        *(
            sa.Column(d, sa.String(length=120), nullable=False, server_default="")
            for d in _DIMENSIONS
        ),
        sa.Column("count", sa.BigInteger(), nullable=False),
    ]
    if not with_bucket:
        columns.append(sa.Column("total", sa.Float(), nullable=False))
    return columns


def upgrade() -> None:
    key = ["tenant_id", "measure", "kind", "shift", "day", "dims_key"]
    for name, with_bucket in (("measure_open_days", False), ("measure_open_day_buckets", True)):
        op.create_table(
            name,
            *_columns(with_bucket),
            sa.PrimaryKeyConstraint(*key, *(["bucket"] if with_bucket else []), name=f"pk_{name}"),
            sqlite_with_rowid=False,
        )
        op.create_index(f"ix_{name}_day", name, ["shift", "day"])
        if op.get_bind().dialect.name == "postgresql":
            # Each fold updates these rows: room on the page keeps the new
            # version there (a HOT update, no index entry), pruned on access.
            op.execute(f"ALTER TABLE {name} SET (fillfactor = 50)")
    op.add_column(
        "measure_day_shifts",
        sa.Column("settled_through", sa.Integer(), nullable=False, server_default="-1"),
    )


def downgrade() -> None:
    raise NotImplementedError("reporting's read models are rebuilt from the stream")
