"""The rules service's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()

rules = Table(
    "rules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("trigger", String(40), nullable=False),
    # crosstalk.common.v1.Condition, serialized as the client sent it.
    Column("condition", LargeBinary, nullable=False),
    Column("actions", JSON, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("stop_processing", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("cooldown_seconds", Integer, nullable=False),
    Column("rollout_percent", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Rule management (migration 0003).
    Column("description", Text, nullable=False, server_default=""),
    # {"delay_seconds": .., "cron": .., "time_zone": ..} for the timer triggers.
    Column("time_trigger", JSON, nullable=True),
    Column("creator", String(36), nullable=False, server_default=""),
    # [{"segment": id, "version": n, "condition": base64}]: saved segments copied
    # into the condition (their conditions over the rule's facts).
    Column("segments", JSON, nullable=True),
    # "|label|label|": lower-cased tag labels of the add/remove tag actions (ListRules tag).
    Column("tag_labels", Text, nullable=False, server_default=""),
)
Index("ix_rules_tenant_trigger", rules.c.tenant_id, rules.c.trigger, rules.c.enabled)
Index("ix_rules_tenant_created", rules.c.tenant_id, rules.c.created_at, rules.c.id)
Index(
    "ix_rules_tenant_priority",
    rules.c.tenant_id,
    rules.c.priority,
    rules.c.created_at,
    rules.c.id,
)

# Every version of every rule (migration 0003): the content as the rules row held
# it at that version (``content``, JSON), who made it and when. Kept when the rule
# is deleted, since runs name the version they used.
rule_versions = Table(
    "rule_versions",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("rule_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("content", JSON, nullable=False),
    Column("author", String(36), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A tenant's rules change only with a new revision (bumped in the same transaction),
# so a replica keeps the tenant's parsed enabled rules until the revision moves.
rule_revisions = Table(
    "rule_revisions",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

rule_runs = Table(
    "rule_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("rule_id", String(36), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("trigger_event_id", String(36), nullable=False),
    Column("customer", String(100), nullable=False),
    Column("explanation", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_rule_runs_rule_customer",
    rule_runs.c.tenant_id,
    rule_runs.c.rule_id,
    rule_runs.c.customer,
    rule_runs.c.created_at,
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
