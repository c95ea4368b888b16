"""channel configs with encrypted secrets, inbound webhook deliveries, outbound
deliveries, e-mail headers for threading

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_configs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("store", sa.String(100), nullable=False, server_default=""),
        sa.Column("address", sa.String(500), nullable=False, server_default=""),
        sa.Column("credentials_ref", sa.String(500), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("default_language", sa.String(35), nullable=False, server_default=""),
        sa.Column("sealed_secrets", sa.Text(), nullable=False, server_default=""),
        sa.Column("secrets_set", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.String(2000), nullable=False, server_default=""),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_channel_configs_tenant", "channel_configs", ["tenant_id", "created_at", "id"]
    )
    op.create_index(
        "ix_channel_configs_channel", "channel_configs", ["tenant_id", "channel", "store"]
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("channel_config_id", sa.String(36), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False, server_default=""),
        sa.Column("message_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("conversation_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_config_id", "signature", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "uq_webhook_deliveries_key",
        "webhook_deliveries",
        ["channel_config_id", "idempotency_key"],
        unique=True,
        sqlite_where=sa.text("idempotency_key != ''"),
        postgresql_where=sa.text("idempotency_key != ''"),
    )
    op.create_index("ix_webhook_deliveries_received", "webhook_deliveries", ["received_at"])
    op.create_table(
        "outbound_deliveries",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("channel_config_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("store", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False, server_default=""),
        sa.Column("in_reply_to", sa.String(200), nullable=False, server_default=""),
        sa.Column("cause_event_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(2000), nullable=False, server_default=""),
        sa.Column("external_id", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_outbound_deliveries_due", "outbound_deliveries", ["state", "next_attempt_at"]
    )
    op.create_table(
        "email_headers",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("rfc_message_id", sa.String(200), nullable=False),
        sa.Column("in_reply_to", sa.String(200), nullable=False, server_default=""),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_email_headers_conversation",
        "email_headers",
        ["tenant_id", "conversation_id", "created_at"],
    )
    op.create_index("ix_email_headers_rfc", "email_headers", ["tenant_id", "rfc_message_id"])


def downgrade() -> None:
    op.drop_table("email_headers")
    op.drop_table("outbound_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("channel_configs")
