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
    literal_column,
)
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()


def given(column: Column[str]) -> ColumnElement[bool]:
    """``column != ''`` with the '' written into the SQL text: the predicate of the
    partial unique indexes below (a key that is optional). A lookup by such a key
    must say it too, or no index serves it: neither SQLite's planner nor a generic
    PostgreSQL plan can tell that a bound parameter is not '', so each lookup read
    the whole table (ingest's check for a known channel message id scanned every
    message of every tenant)."""
    return column != literal_column("''")


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
# The inbox of a caller who sees its own customers, or one department's, in inbox order.
Index(
    "ix_conversations_owner_inbox",
    conversations.c.tenant_id,
    conversations.c.owner_member_id,
    conversations.c.priority,
    conversations.c.inbox_at,
    conversations.c.id,
)
Index(
    "ix_conversations_department_inbox",
    conversations.c.tenant_id,
    conversations.c.department_id,
    conversations.c.priority,
    conversations.c.inbox_at,
    conversations.c.id,
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
    # An internal note (migration 0003): never sent to the customer.
    Column("internal_note", Boolean, nullable=False, server_default="0"),
    # Who wrote an outbound message or note ("members/{member}", "rules/{rule}").
    Column("sent_by", String(100), nullable=False, server_default=""),
    # Outbound messages (migration 0004, replies): the template, the delivery state
    # (draft, queued, sent, delivered, failed; NULL for inbound) and why it failed, the
    # translation check, the caller's request id and the event that caused it.
    Column("template", String(100), nullable=False, server_default=""),
    # The version of template the text was rendered from (migration 0006); 0 when none.
    Column("template_version", Integer, nullable=False, server_default="0"),
    Column("delivery_state", String(12), nullable=True),
    Column("delivery_error", Text, nullable=False, server_default=""),
    Column("similarity", Float, nullable=True),
    Column("similarity_threshold", Float, nullable=True),
    Column("back_translated_text", Text, nullable=False, server_default=""),
    Column("translation_engine", String(50), nullable=False, server_default=""),
    Column("request_id", String(36), nullable=False, server_default=""),
    Column("cause_event_id", String(64), nullable=False, server_default=""),
)
# A SendReply / SendProactiveMessage request id is used once per tenant (migration 0004).
Index(
    "uq_messages_request_id",
    messages.c.tenant_id,
    messages.c.request_id,
    unique=True,
    sqlite_where=messages.c.request_id != "",
    postgresql_where=messages.c.request_id != "",
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

# Each tenant's messaging settings (migration 0004); no row: the defaults.
messaging_settings = Table(
    "messaging_settings",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("reply_similarity_threshold", Float, nullable=False),
    Column("max_inbound_text_bytes", Integer, nullable=False),
    Column("send_csat_on_close", Boolean, nullable=False),
    Column("auto_translate", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# How replies are translated per customer or per tag (migration 0004): one per subject.
translation_settings = Table(
    "translation_settings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    # "customers/{id}" or "tags/{id}"
    Column("subject", String(100), nullable=False),
    # "auto", "off", or "" (inherit)
    Column("mode", String(10), nullable=False, server_default=""),
    Column("target_language", String(35), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index(
    "uq_translation_settings_subject",
    translation_settings.c.tenant_id,
    translation_settings.c.subject,
    unique=True,
)
Index(
    "ix_translation_settings_tenant",
    translation_settings.c.tenant_id,
    translation_settings.c.created_at,
    translation_settings.c.id,
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
Index(
    "ix_customer_snapshots_tier",
    customer_snapshots.c.tenant_id,
    customer_snapshots.c.tier,
    customer_snapshots.c.customer,
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

# Reply templates (0006): the current content, and every version's content.
reply_templates = Table(
    "reply_templates",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("owner_member_id", String(36), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("category", String(100), nullable=False, server_default=""),
    Column("default_language", String(35), nullable=False),
    # "private" or "shared"
    Column("visibility", String(10), nullable=False),
    # The bodies' language tags as "|en|es|" (the language filter).
    Column("languages", Text, nullable=False),
    # The display name and bodies lower-cased (the query filter).
    Column("search_text", Text, nullable=False),
    # bodies and variables (JSON), see template_repository.content_json
    Column("content", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_reply_templates_list",
    reply_templates.c.tenant_id,
    reply_templates.c.display_name,
    reply_templates.c.id,
)
reply_template_versions = Table(
    "reply_template_versions",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("template_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    # The whole content at this version (names, category, visibility too).
    Column("content", JSON, nullable=False),
    # "members/{member}"
    Column("author", String(100), nullable=False, server_default=""),
    Column("restored_from", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("template_id", "version", name="pk_reply_template_versions"),
)

# CSAT surveys (0006). "customer" is "customers/{id}", "assignee" "members/{id}".
csat_surveys = Table(
    "csat_surveys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("conversation_id", String(36), nullable=False),
    Column("customer", String(100), nullable=False),
    Column("assignee", String(100), nullable=False, server_default=""),
    Column("language", String(35), nullable=False),
    Column("questions", JSON, nullable=False),
    # "sent" or "answered"; EXPIRED is "sent" past expires_at
    Column("state", String(10), nullable=False),
    Column("score", Integer, nullable=False, server_default="0"),
    Column("comment", Text, nullable=False, server_default=""),
    Column("answers", JSON, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    # CreateCsatSurvey's request_id, "" when none
    Column("request_id", String(200), nullable=False, server_default=""),
)
Index("ix_csat_surveys_list", csat_surveys.c.tenant_id, csat_surveys.c.sent_at, csat_surveys.c.id)
Index(
    "ix_csat_surveys_conversation",
    csat_surveys.c.tenant_id,
    csat_surveys.c.conversation_id,
    csat_surveys.c.state,
)
Index(
    "uq_csat_surveys_request",
    csat_surveys.c.tenant_id,
    csat_surveys.c.request_id,
    unique=True,
    sqlite_where=csat_surveys.c.request_id != "",
    postgresql_where=csat_surveys.c.request_id != "",
)

# Channel accounts (migration 0005). sealed_secrets: ChannelSecrets as JSON, sealed with
# crosstalk_common.secrets under MESSAGING_KEK (ADR 0015), "" when none are set;
# secrets_set names the fields set, so reads never open them.
channel_configs = Table(
    "channel_configs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("store", String(100), nullable=False, server_default=""),
    Column("address", String(500), nullable=False, server_default=""),
    Column("credentials_ref", String(500), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False),
    Column("default_language", String(35), nullable=False, server_default=""),
    Column("sealed_secrets", Text, nullable=False, server_default=""),
    Column("secrets_set", JSON, nullable=False),
    Column("last_error", String(2000), nullable=False, server_default=""),
    Column("last_sync_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)
Index(
    "ix_channel_configs_tenant",
    channel_configs.c.tenant_id,
    channel_configs.c.created_at,
    channel_configs.c.id,
)
Index(
    "ix_channel_configs_channel",
    channel_configs.c.tenant_id,
    channel_configs.c.channel,
    channel_configs.c.store,
)

# Signed webhook deliveries received (0005): a signature seen is a replay; an
# idempotency key seen answers the message it became. Kept past the signature window.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("channel_config_id", String(36), nullable=False),
    Column("signature", String(100), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("idempotency_key", String(200), nullable=False, server_default=""),
    Column("message_id", String(36), nullable=False, server_default=""),
    Column("conversation_id", String(36), nullable=False, server_default=""),
    Column("received_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("channel_config_id", "signature", name="pk_webhook_deliveries"),
)
Index(
    "uq_webhook_deliveries_key",
    webhook_deliveries.c.channel_config_id,
    webhook_deliveries.c.idempotency_key,
    unique=True,
    sqlite_where=webhook_deliveries.c.idempotency_key != "",
    postgresql_where=webhook_deliveries.c.idempotency_key != "",
)
Index("ix_webhook_deliveries_received", webhook_deliveries.c.received_at)

# Outbound deliveries (0005), one per message: queued by message.delivery_requested,
# settled once as sent or failed by the delivery worker (app/delivery.py).
outbound_deliveries = Table(
    "outbound_deliveries",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("conversation_id", String(36), nullable=False),
    Column("customer", String(100), nullable=False),
    Column("channel_config_id", String(36), nullable=False, server_default=""),
    Column("channel", String(20), nullable=False),
    Column("store", String(100), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(35), nullable=False),
    Column("subject", String(500), nullable=False, server_default=""),
    Column("in_reply_to", String(200), nullable=False, server_default=""),
    Column("cause_event_id", String(64), nullable=False, server_default=""),
    # "queued" | "sent" | "failed"
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_error", String(2000), nullable=False, server_default=""),
    Column("external_id", String(200), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_outbound_deliveries_due",
    outbound_deliveries.c.state,
    outbound_deliveries.c.next_attempt_at,
)

# E-mail headers of a conversation's mails (0005), so replies thread: an outbound
# mail answers the last inbound one (In-Reply-To, References, "Re: " subject).
email_headers = Table(
    "email_headers",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("conversation_id", String(36), nullable=False),
    # "inbound" | "outbound"
    Column("direction", String(10), nullable=False),
    Column("rfc_message_id", String(200), nullable=False),
    Column("in_reply_to", String(200), nullable=False, server_default=""),
    Column("references", JSON, nullable=False),
    Column("subject", String(500), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_email_headers_conversation",
    email_headers.c.tenant_id,
    email_headers.c.conversation_id,
    email_headers.c.created_at,
)
Index("ix_email_headers_rfc", email_headers.c.tenant_id, email_headers.c.rfc_message_id)

# Member notifications (0008): a member's in-app list, and the e-mail copy's state.
notifications = Table(
    "notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    # member id
    Column("recipient", String(36), nullable=False),
    Column("title", String(200), nullable=False),
    Column("text", Text, nullable=False, server_default=""),
    Column("source", String(100), nullable=False, server_default=""),
    Column("conversation_id", String(36), nullable=False, server_default=""),
    Column("customer", String(100), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=True),
    # "" (none), "pending", "sent", "failed"
    Column("email_state", String(10), nullable=False, server_default=""),
    Column("email_to", String(320), nullable=False, server_default=""),
    Column("email_attempts", Integer, nullable=False, server_default="0"),
    Column("email_error", String(2000), nullable=False, server_default=""),
    # Pending: not before this time (a retry's backoff, or another replica's lease).
    Column("email_due_at", DateTime(timezone=True), nullable=True),
)
Index(
    "ix_notifications_recipient",
    notifications.c.tenant_id,
    notifications.c.recipient,
    notifications.c.created_at,
    notifications.c.id,
)
Index("ix_notifications_email_due", notifications.c.email_state, notifications.c.email_due_at)

# What messaging knows of members to notify them and find a group's lead, from
# identity's member events (0008).
member_contacts = Table(
    "member_contacts",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    # member id
    Column("member", String(36), nullable=False),
    Column("email", String(320), nullable=False, server_default=""),
    Column("display_name", String(200), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    # group ids the member leads
    Column("led_groups", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "member", name="pk_member_contacts"),
)

# Rule actions messaging applied (0008): one row per (run, action_index), so a
# redelivered or re-published action changes nothing.
rule_action_applications = Table(
    "rule_action_applications",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("run", String(200), nullable=False),
    Column("action_index", Integer, nullable=False),
    Column("action_type", String(40), nullable=False),
    Column("rule", String(100), nullable=False, server_default=""),
    Column("outcome", String(10), nullable=False),
    Column("reason", String(2000), nullable=False, server_default=""),
    Column("result", String(200), nullable=False, server_default=""),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "run", "action_index", name="pk_rule_action_applications"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
