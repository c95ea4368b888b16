"""re-combinable measures per hour and dimensions, drill-down facts, projections;
the daily event counts and customer owners they replace are dropped (a rebuild
from the stream refills the new tables)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The row dimensions, in column order (reporting.domain.catalogue.ROW_DIMENSIONS
# when this revision was written).
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


def _dimension_columns() -> list[sa.Column]:
    return [
        sa.Column(name, sa.String(length=120), nullable=False, server_default="")
        for name in _DIMENSIONS
    ]


def upgrade() -> None:
    op.create_table(
        "measure_hours",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("measure", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dims_key", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("owner_member_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("department_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("tag", sa.String(length=120), nullable=False, server_default=""),
        *_dimension_columns(),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "measure", "hour", "dims_key", name="pk_measure_hours"
        ),
    )
    op.create_table(
        "measure_buckets",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("measure", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dims_key", sa.String(length=40), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("owner_member_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("department_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("tag", sa.String(length=120), nullable=False, server_default=""),
        *_dimension_columns(),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "measure", "hour", "dims_key", "bucket", name="pk_measure_buckets"
        ),
    )
    for table in ("measure_hours", "measure_buckets"):
        op.create_index(
            f"ix_{table}_kind", table, ["tenant_id", "measure", "kind", "hour"], unique=False
        )
    op.create_table(
        "measure_facts",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("customer", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("owner_member_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("department_id", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_dimension_columns(),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", "seq", name="pk_measure_facts"),
    )
    op.create_index(
        "ix_measure_facts_time", "measure_facts", ["tenant_id", "measure", "at"], unique=False
    )
    for name in ("customer_facts", "conversation_facts", "case_facts"):
        op.create_table(
            name,
            sa.Column("tenant_id", sa.String(length=36), nullable=False),
            sa.Column("subject", sa.String(length=200), nullable=False),
            sa.Column("facts", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "subject", name=f"pk_{name}"),
        )
    op.drop_table("daily_event_counts")
    op.drop_table("customer_owners")


def downgrade() -> None:
    raise NotImplementedError("reporting's read models are rebuilt from the stream")
