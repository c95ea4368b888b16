"""agent replies: back-translation similarity, drafts, delivery state, translation settings

Outbound messages get their template, delivery state (NULL for inbound messages) and
error, the translation check (similarity, the threshold it was held against, the back
translation, the engine), the request id that makes SendReply retries safe (unique per
tenant when set) and the causing event. New tables: messaging_settings (one row per tenant
that changed a setting) and translation_settings (per customer or tag).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("template", sa.String(100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("delivery_state", sa.String(12), nullable=True))
        batch_op.add_column(
            sa.Column("delivery_error", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("similarity", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("similarity_threshold", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("back_translated_text", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("translation_engine", sa.String(50), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("request_id", sa.String(36), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("cause_event_id", sa.String(64), nullable=False, server_default="")
        )
    op.create_index(
        "uq_messages_request_id",
        "messages",
        ["tenant_id", "request_id"],
        unique=True,
        sqlite_where=sa.text("request_id != ''"),
        postgresql_where=sa.text("request_id != ''"),
    )
    op.create_table(
        "messaging_settings",
        sa.Column("tenant_id", sa.String(36), primary_key=True),
        sa.Column("reply_similarity_threshold", sa.Float(), nullable=False),
        sa.Column("max_inbound_text_bytes", sa.Integer(), nullable=False),
        sa.Column("send_csat_on_close", sa.Boolean(), nullable=False),
        sa.Column("auto_translate", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "translation_settings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False, server_default=""),
        sa.Column("target_language", sa.String(35), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "uq_translation_settings_subject",
        "translation_settings",
        ["tenant_id", "subject"],
        unique=True,
    )
    op.create_index(
        "ix_translation_settings_tenant",
        "translation_settings",
        ["tenant_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_translation_settings_tenant", table_name="translation_settings")
    op.drop_index("uq_translation_settings_subject", table_name="translation_settings")
    op.drop_table("translation_settings")
    op.drop_table("messaging_settings")
    op.drop_index("uq_messages_request_id", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        for column in (
            "cause_event_id",
            "request_id",
            "translation_engine",
            "back_translated_text",
            "similarity_threshold",
            "similarity",
            "delivery_error",
            "delivery_state",
            "template",
        ):
            batch_op.drop_column(column)
