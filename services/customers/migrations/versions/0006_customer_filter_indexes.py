"""Indexes for customer filters on common attributes; room for heap-only updates.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 13:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CUSTOMER_INDEXES = {
    "ix_customers_tenant_stage": ["tenant_id", "lifecycle_stage"],
    "ix_customers_tenant_tier": ["tenant_id", "tier_id"],
    "ix_customers_tenant_score": ["tenant_id", "score"],
    "ix_customers_tenant_last_active": ["tenant_id", "last_active_at"],
    "ix_customers_tenant_country": ["tenant_id", "country"],
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Leave room in each page so that updates touching no indexed column
        # (version, updated_at, tags elsewhere) stay heap-only and skip the
        # table's many indexes.
        op.execute("ALTER TABLE customers SET (fillfactor = 80)")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        for name, columns in _CUSTOMER_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    with op.batch_alter_table("customer_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_tags_tenant_tag")
        batch_op.create_index(
            "ix_customer_tags_tenant_tag", ["tenant_id", "tag", "customer_id"], unique=False
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE customers RESET (fillfactor)")
    with op.batch_alter_table("customer_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_tags_tenant_tag")
        batch_op.create_index("ix_customer_tags_tenant_tag", ["tenant_id", "tag"], unique=False)
    with op.batch_alter_table("customers", schema=None) as batch_op:
        for name in _CUSTOMER_INDEXES:
            batch_op.drop_index(name)
