"""rule actions applied by messaging, member notifications

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("recipient", sa.String(36), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("source", sa.String(100), nullable=False, server_default=""),
        sa.Column("conversation_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("customer", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_state", sa.String(10), nullable=False, server_default=""),
        sa.Column("email_to", sa.String(320), nullable=False, server_default=""),
        sa.Column("email_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("email_error", sa.String(2000), nullable=False, server_default=""),
        sa.Column("email_due_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_notifications_recipient",
        "notifications",
        ["tenant_id", "recipient", "created_at", "id"],
    )
    op.create_index("ix_notifications_email_due", "notifications", ["email_state", "email_due_at"])
    op.create_table(
        "member_contacts",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("member", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=False, server_default=""),
        sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("led_groups", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member", name="pk_member_contacts"),
    )
    op.create_table(
        "rule_action_applications",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("run", sa.String(200), nullable=False),
        sa.Column("action_index", sa.Integer(), nullable=False),
        sa.Column("action_type", sa.String(40), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False, server_default=""),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False, server_default=""),
        sa.Column("result", sa.String(200), nullable=False, server_default=""),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "run", "action_index", name="pk_rule_action_applications"
        ),
    )


def downgrade() -> None:
    op.drop_table("rule_action_applications")
    op.drop_table("member_contacts")
    op.drop_index("ix_notifications_email_due", table_name="notifications")
    op.drop_index("ix_notifications_recipient", table_name="notifications")
    op.drop_table("notifications")
