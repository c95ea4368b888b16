"""measure_days and measure_day_buckets: the hour rows added up per day of a
shift (a zone's UTC offset in whole hours, mod 24), for the shifts listed in
measure_day_shifts, so a query by day, week or month reads a row per local day
instead of 24 hour rows. Empty until shifts are asked for (the service fills
them from the hour rows at start: REPORTING_DAY_ZONES)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
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
    op.create_table(
        "measure_days",
        *_columns(False),
        sa.PrimaryKeyConstraint(*key, name="pk_measure_days"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "measure_day_buckets",
        *_columns(True),
        sa.PrimaryKeyConstraint(*key, "bucket", name="pk_measure_day_buckets"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "measure_day_shifts",
        sa.Column("shift", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("shift", name="pk_measure_day_shifts"),
    )


def downgrade() -> None:
    raise NotImplementedError("reporting's read models are rebuilt from the stream")
