"""The messaging service's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
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
    # Conversations area (migration 0003): keyed by the sender's channel identity.
    Column("sender_external_id", String(320), nullable=False, server_default=""),
    Column("channel_config", String(100), nullable=False, server_default=""),
    # crosstalk.common.v1.Priority's number: 1 low .. 4 urgent (sorted descending).
    Column("priority", Integer, nullable=False, server_default="2"),
    Column("assignee", String(100), nullable=False, server_default=""),
    Column("assignee_group", String(100), nullable=False, server_default=""),
    Column("language", String(35), nullable=False, server_default="und"),
    Column("subject", String(500), nullable=False, server_default=""),
    Column("follow_ups", Integer, nullable=False, server_default="0"),
    Column("last_inbound_at", DateTime(timezone=True), nullable=True),
    Column("last_agent_reply_at", DateTime(timezone=True), nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    # The inbox's sort time: the last inbound message, or the creation before any.
    Column("inbox_at", DateTime(timezone=True), nullable=False),
    Column("message_count", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    # The customer's owner and department (ids), copied from customer_snapshots.
    Column("owner_member_id", String(36), nullable=False, server_default=""),
    Column("department_id", String(36), nullable=False, server_default=""),
)
# One conversation per channel identity: a CLOSED one reopens (core_loop §6).
Index(
    "uq_conversations_identity",
    conversations.c.tenant_id,
    conversations.c.channel,
    conversations.c.store,
    conversations.c.sender_external_id,
    unique=True,
)
# The inbox: priority (urgent first), then last inbound message, newest first.
Index(
    "ix_conversations_inbox",
    conversations.c.tenant_id,
    conversations.c.priority,
    conversations.c.inbox_at,
    conversations.c.id,
)
Index(
    "ix_conversations_status_inbox",
    conversations.c.tenant_id,
    conversations.c.status,
    conversations.c.priority,
    conversations.c.inbox_at,
    conversations.c.id,
)
Index(
    "ix_conversations_assignee",
    conversations.c.tenant_id,
    conversations.c.assignee,
    conversations.c.status,
)
Index("ix_conversations_customer", conversations.c.tenant_id, conversations.c.customer)

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
    # An internal note (migration 0003): never sent to the customer.
    Column("internal_note", Boolean, nullable=False, server_default="0"),
    # Who wrote an outbound message or note ("members/{member}", "rules/{rule}").
    Column("sent_by", String(100), nullable=False, server_default=""),
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

# Files attached to a message, by reference (migration 0003).
message_attachments = Table(
    "message_attachments",
    metadata,
    Column("message_id", String(36), ForeignKey("messages.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("uri", Text, nullable=False),
    PrimaryKeyConstraint("message_id", "position", name="pk_message_attachments"),
)

# The tenant's own conversation labels, and which conversations carry them (0003).
conversation_labels = Table(
    "conversation_labels",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(60), nullable=False),
    # display_name case-folded: unique per tenant.
    Column("name_key", String(60), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index(
    "uq_conversation_labels_name",
    conversation_labels.c.tenant_id,
    conversation_labels.c.name_key,
    unique=True,
)
conversation_label_links = Table(
    "conversation_label_links",
    metadata,
    Column("conversation_id", String(36), ForeignKey("conversations.id"), nullable=False),
    Column("label_id", String(36), ForeignKey("conversation_labels.id"), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    PrimaryKeyConstraint("conversation_id", "label_id", name="pk_conversation_label_links"),
)
Index(
    "ix_conversation_label_links_label",
    conversation_label_links.c.tenant_id,
    conversation_label_links.c.label_id,
    conversation_label_links.c.conversation_id,
)

# The customers messaging knows, from the snapshot every customer event carries (0003).
customer_snapshots = Table(
    "customer_snapshots",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    # "customers/{customer}"
    Column("customer", String(100), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("display_name", String(200), nullable=False, server_default=""),
    # ids (no "members/" / "departments/" prefix), as a caller's data scope names them
    Column("owner_member_id", String(36), nullable=False, server_default=""),
    Column("department_id", String(36), nullable=False, server_default=""),
    Column("tier", String(100), nullable=False, server_default=""),
    Column("tag_labels", JSON, nullable=False),
    Column("language", String(35), nullable=False, server_default=""),
    Column("blacklisted", Boolean, nullable=False, server_default="0"),
    Column("deleted", Boolean, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "customer", name="pk_customer_snapshots"),
)
customer_snapshot_tags = Table(
    "customer_snapshot_tags",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("customer", String(100), nullable=False),
    # "tags/{tag}"
    Column("tag", String(100), nullable=False),
    PrimaryKeyConstraint("tenant_id", "customer", "tag", name="pk_customer_snapshot_tags"),
)
Index(
    "ix_customer_snapshot_tags_tag",
    customer_snapshot_tags.c.tenant_id,
    customer_snapshot_tags.c.tag,
    customer_snapshot_tags.c.customer,
)

# The tenant's members as assignment needs them, from identity's member events (0003).
member_profiles = Table(
    "member_profiles",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    # "members/{member}"
    Column("member", String(100), nullable=False),
    Column("display_name", String(200), nullable=False, server_default=""),
    Column("languages", JSON, nullable=False),
    # Most open conversations at once; 0 means no limit.
    Column("capacity", Integer, nullable=False, server_default="0"),
    # "available" | "away" | "offline" | "" (unknown: treated as available)
    Column("availability", String(20), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "member", name="pk_member_profiles"),
)
member_groups = Table(
    "member_groups",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    # "groups/{group}"
    Column("group_name", String(100), nullable=False),
    Column("member", String(100), nullable=False),
    PrimaryKeyConstraint("tenant_id", "group_name", "member", name="pk_member_groups"),
)
# Round robin: the member a group's last conversation went to.
assignment_cursors = Table(
    "assignment_cursors",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("group_name", String(100), nullable=False),
    Column("last_member", String(100), nullable=False),
    PrimaryKeyConstraint("tenant_id", "group_name", name="pk_assignment_cursors"),
)

# After-sales cases (0007). "customer" is "customers/{id}"; the data scope follows the
# customer's owner and department in customer_snapshots.
cases = Table(
    "cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("type", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("customer", String(100), nullable=False),
    Column("conversation_id", String(36), nullable=False, server_default=""),
    Column("order_external_id", String(200), nullable=False, server_default=""),
    Column("amount_currency", String(3), nullable=True),
    Column("amount_units", BigInteger, nullable=True),
    Column("amount_nanos", Integer, nullable=True),
    Column("reason", String(500), nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    # member id, "" when nobody
    Column("assignee", String(36), nullable=False, server_default=""),
    Column("priority", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sla_due_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False),
    # CreateCase's request_id (or a rule action's run and index), "" when none
    Column("request_id", String(200), nullable=False, server_default=""),
    Column("created_by", String(100), nullable=False, server_default=""),
)
Index("ix_cases_tenant_created", cases.c.tenant_id, cases.c.created_at, cases.c.id)
Index("ix_cases_tenant_customer", cases.c.tenant_id, cases.c.customer)
Index(
    "uq_cases_request",
    cases.c.tenant_id,
    cases.c.request_id,
    unique=True,
    sqlite_where=cases.c.request_id != "",
    postgresql_where=cases.c.request_id != "",
)
case_transitions = Table(
    "case_transitions",
    metadata,
    Column("case_id", String(36), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("from_state", String(20), nullable=False),
    Column("to_state", String(20), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("actor", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("case_id", "seq", name="pk_case_transitions"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
