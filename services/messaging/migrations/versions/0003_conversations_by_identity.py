"""conversations keyed by channel identity; status machine, follow-ups, notes, labels, projections

Conversations were keyed by (tenant, customer, channel, store), with at most one not
closed: a customer with two e-mail addresses shared a conversation, and every closed
conversation left a new one behind at the next message. Now one conversation belongs to one
channel identity (tenant, channel, store, sender external id) for good, and a CLOSED one
reopens. Existing rows are re-keyed from their latest message's sender; where that leaves
several conversations on one identity, the open (else the most recent) one keeps them all:
the others' messages move to it and they are deleted. Follow-ups, counts and times are
worked out from the messages (no agent reply existed before this revision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _merge_conversations_of_one_identity() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, tenant_id, channel, store, sender_external_id, status, last_message_at"
            " FROM conversations ORDER BY tenant_id, channel, store, sender_external_id"
        )
    ).all()
    for _, group in groupby(rows, key=lambda r: (r[1], r[2], r[3], r[4])):
        same = list(group)
        if len(same) < 2:
            continue
        # The open one first, then the most recent.
        same.sort(key=lambda r: (r[5] != "closed", str(r[6])), reverse=True)
        keeper, others = same[0][0], [r[0] for r in same[1:]]
        for other in others:
            bind.execute(
                sa.text("UPDATE messages SET conversation_id = :keeper WHERE conversation_id = :o"),
                {"keeper": keeper, "o": other},
            )
            bind.execute(sa.text("DELETE FROM conversations WHERE id = :o"), {"o": other})


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sender_external_id", sa.String(320), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("channel_config", sa.String(100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="2"))
        batch_op.add_column(
            sa.Column("assignee", sa.String(100), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("assignee_group", sa.String(100), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("language", sa.String(35), nullable=False, server_default="und")
        )
        batch_op.add_column(sa.Column("subject", sa.String(500), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("follow_ups", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("last_agent_reply_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("inbox_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("message_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("owner_member_id", sa.String(36), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("department_id", sa.String(36), nullable=False, server_default="")
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("internal_note", sa.Boolean(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("sent_by", sa.String(100), nullable=False, server_default=""))

    # Re-key existing conversations by their sender's identity, merge, recount.
    op.execute(
        "UPDATE conversations SET sender_external_id = COALESCE((SELECT m.sender_external_id"
        " FROM messages m WHERE m.conversation_id = conversations.id"
        " ORDER BY m.created_at DESC LIMIT 1), '')"
    )
    _merge_conversations_of_one_identity()
    op.execute(
        "UPDATE conversations SET"
        " follow_ups = (SELECT COUNT(*) FROM messages m"
        "  WHERE m.conversation_id = conversations.id AND m.direction = 'inbound'),"
        " message_count = (SELECT COUNT(*) FROM messages m"
        "  WHERE m.conversation_id = conversations.id),"
        " last_inbound_at = (SELECT MAX(m.created_at) FROM messages m"
        "  WHERE m.conversation_id = conversations.id AND m.direction = 'inbound'),"
        " language = COALESCE((SELECT m.language FROM messages m"
        "  WHERE m.conversation_id = conversations.id AND m.direction = 'inbound'"
        "  ORDER BY m.created_at DESC LIMIT 1), 'und'),"
        " opened_at = created_at,"
        " updated_at = last_message_at"
    )
    op.execute("UPDATE conversations SET inbox_at = COALESCE(last_inbound_at, created_at)")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_conversations_open",
            sqlite_where=sa.text("status != 'closed'"),
            postgresql_where=sa.text("status != 'closed'"),
        )
        batch_op.alter_column("opened_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.alter_column("inbox_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.alter_column(
            "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index(
            "uq_conversations_identity",
            ["tenant_id", "channel", "store", "sender_external_id"],
            unique=True,
        )
        batch_op.create_index(
            "ix_conversations_inbox", ["tenant_id", "priority", "inbox_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_status_inbox",
            ["tenant_id", "status", "priority", "inbox_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversations_assignee", ["tenant_id", "assignee", "status"], unique=False
        )
        batch_op.create_index("ix_conversations_customer", ["tenant_id", "customer"], unique=False)
        batch_op.create_index(
            "ix_conversations_owner_inbox",
            ["tenant_id", "owner_member_id", "priority", "inbox_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversations_department_inbox",
            ["tenant_id", "department_id", "priority", "inbox_at", "id"],
            unique=False,
        )

    op.create_table(
        "message_attachments",
        sa.Column("message_id", sa.String(36), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "position", name="pk_message_attachments"),
    )
    op.create_table(
        "conversation_labels",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("display_name", sa.String(60), nullable=False),
        sa.Column("name_key", sa.String(60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_conversation_labels_name",
        "conversation_labels",
        ["tenant_id", "name_key"],
        unique=True,
    )
    op.create_table(
        "conversation_label_links",
        sa.Column(
            "conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column(
            "label_id", sa.String(36), sa.ForeignKey("conversation_labels.id"), nullable=False
        ),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "label_id", name="pk_conversation_label_links"),
    )
    op.create_index(
        "ix_conversation_label_links_label",
        "conversation_label_links",
        ["tenant_id", "label_id", "conversation_id"],
    )
    op.create_table(
        "customer_snapshots",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("owner_member_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("department_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("tier", sa.String(100), nullable=False, server_default=""),
        sa.Column("tag_labels", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False, server_default=""),
        sa.Column("blacklisted", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer", name="pk_customer_snapshots"),
    )
    op.create_index(
        "ix_customer_snapshots_tier", "customer_snapshots", ["tenant_id", "tier", "customer"]
    )
    op.create_table(
        "customer_snapshot_tags",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer", "tag", name="pk_customer_snapshot_tags"),
    )
    op.create_index(
        "ix_customer_snapshot_tags_tag",
        "customer_snapshot_tags",
        ["tenant_id", "tag", "customer"],
    )
    op.create_table(
        "member_profiles",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("member", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("availability", sa.String(20), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member", name="pk_member_profiles"),
    )
    op.create_table(
        "member_groups",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("group_name", sa.String(100), nullable=False),
        sa.Column("member", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "group_name", "member", name="pk_member_groups"),
    )
    op.create_table(
        "assignment_cursors",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("group_name", sa.String(100), nullable=False),
        sa.Column("last_member", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "group_name", name="pk_assignment_cursors"),
    )


def downgrade() -> None:
    for table in (
        "assignment_cursors",
        "member_groups",
        "member_profiles",
        "customer_snapshot_tags",
        "customer_snapshots",
        "conversation_label_links",
        "conversation_labels",
        "message_attachments",
    ):
        op.drop_table(table)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        for index in (
            "ix_conversations_department_inbox",
            "ix_conversations_owner_inbox",
            "ix_conversations_customer",
            "ix_conversations_assignee",
            "ix_conversations_status_inbox",
            "ix_conversations_inbox",
            "uq_conversations_identity",
        ):
            batch_op.drop_index(index)
        for column in (
            "department_id",
            "owner_member_id",
            "version",
            "updated_at",
            "message_count",
            "inbox_at",
            "opened_at",
            "last_agent_reply_at",
            "last_inbound_at",
            "follow_ups",
            "subject",
            "language",
            "assignee_group",
            "assignee",
            "priority",
            "channel_config",
            "sender_external_id",
        ):
            batch_op.drop_column(column)
        batch_op.create_index(
            "uq_conversations_open",
            ["tenant_id", "customer", "channel", "store"],
            unique=True,
            sqlite_where=sa.text("status != 'closed'"),
            postgresql_where=sa.text("status != 'closed'"),
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("sent_by")
        batch_op.drop_column("internal_note")
