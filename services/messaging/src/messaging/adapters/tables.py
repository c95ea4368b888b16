"""The messaging service's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
)

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("customer", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("store", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("last_message_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# At most one open conversation per customer, channel and store.
Index(
    "uq_conversations_open",
    conversations.c.tenant_id,
    conversations.c.customer,
    conversations.c.channel,
    conversations.c.store,
    unique=True,
    sqlite_where=conversations.c.status != "closed",
    postgresql_where=conversations.c.status != "closed",
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("conversation_id", String(36), ForeignKey("conversations.id"), nullable=False),
    Column("customer", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("store", String(100), nullable=False),
    Column("sender_external_id", String(320), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(35), nullable=False),
    Column("translated_text", Text, nullable=False, default=""),
    Column("translated_language", String(35), nullable=False, default=""),
    Column("sentiment_score", Float, nullable=True),
    Column("sentiment_label", String(10), nullable=False, default=""),
    Column("intents", JSON, nullable=False, default=list),
    Column("external_id", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_messages_conversation", messages.c.conversation_id, messages.c.created_at)
# A channel's message id is stored once per tenant, channel and store.
Index(
    "uq_messages_external_id",
    messages.c.tenant_id,
    messages.c.channel,
    messages.c.store,
    messages.c.external_id,
    unique=True,
    sqlite_where=messages.c.external_id != "",
    postgresql_where=messages.c.external_id != "",
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
