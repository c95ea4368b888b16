"""after-sales cases and their transitions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("order_external_id", sa.String(200), nullable=False, server_default=""),
        sa.Column("amount_currency", sa.String(3), nullable=True),
        sa.Column("amount_units", sa.BigInteger(), nullable=True),
        sa.Column("amount_nanos", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("assignee", sa.String(36), nullable=False, server_default=""),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
    )
    op.create_index("ix_cases_tenant_created", "cases", ["tenant_id", "created_at", "id"])
    op.create_index("ix_cases_tenant_customer", "cases", ["tenant_id", "customer"])
    op.create_index(
        "uq_cases_request",
        "cases",
        ["tenant_id", "request_id"],
        unique=True,
        sqlite_where=sa.text("request_id != ''"),
        postgresql_where=sa.text("request_id != ''"),
    )
    op.create_table(
        "case_transitions",
        sa.Column(
            "case_id",
            sa.String(36),
            sa.ForeignKey("cases.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(20), nullable=False),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "seq", name="pk_case_transitions"),
    )


def downgrade() -> None:
    op.drop_table("case_transitions")
    op.drop_index("uq_cases_request", table_name="cases")
    op.drop_index("ix_cases_tenant_customer", table_name="cases")
    op.drop_index("ix_cases_tenant_created", table_name="cases")
    op.drop_table("cases")
