"""counts split by the customer's owner and department; customer owners

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMENSIONS = ["tenant_id", "event_type", "day"]


def upgrade() -> None:
    op.create_table(
        "customer_owners",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("customer", sa.String(length=100), nullable=False),
        sa.Column("owner_member_id", sa.String(length=36), nullable=False),
        sa.Column("department_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer", name="pk_customer_owners"),
    )
    # Counts made before this revision belong to no owner: the whole tenant sees them.
    with op.batch_alter_table("daily_event_counts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("owner_member_id", sa.String(length=36), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("department_id", sa.String(length=36), nullable=False, server_default="")
        )
        batch_op.drop_constraint("pk_daily_event_counts", type_="primary")
        batch_op.create_primary_key(
            "pk_daily_event_counts", [*_DIMENSIONS, "owner_member_id", "department_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("daily_event_counts", schema=None) as batch_op:
        batch_op.drop_constraint("pk_daily_event_counts", type_="primary")
        batch_op.drop_column("department_id")
        batch_op.drop_column("owner_member_id")
        batch_op.create_primary_key("pk_daily_event_counts", _DIMENSIONS)
    op.drop_table("customer_owners")
