"""customer snapshot versions: the version of each customer's latest CustomerSnapshot

Every event about a customer carries a snapshot of them (field 50) with a
version that grows by one per event. The counter lives in its own table, not
in the customers row, so it outlives the customer: the deleted=true snapshot
continues it. A customer without a row has had no snapshot yet (version 0).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_snapshot_versions",
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )


def downgrade() -> None:
    op.drop_table("customer_snapshot_versions")
