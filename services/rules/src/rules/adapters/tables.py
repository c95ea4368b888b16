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
    UniqueConstraint,
    false,
)

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()

# rule_hourly_stats' counter columns, one per domain.runs.Counter.
STATISTICS_COUNTERS = (
    "evaluated",
    "matched",
    "fired",
    "shadow",
    "suppressed_cooldown",
    "suppressed_rollout",
    "suppressed_stop",
    "suppressed_loop_guard",
    "suppressed_blacklist",
    "actions_succeeded",
    "actions_failed",
)

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
    # Action outcomes that failed in a row since the last success or change
    # (auto-disable, RULES_AUTO_DISABLE_FAILURES).
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    # CreateRule's request_id: a repeated request returns the rule it made.
    Column("request_id", String(36), nullable=True),
    # Shadow mode (migration 0004): evaluated and recorded, no action requested.
    Column("shadow", Boolean, nullable=False, server_default=false()),
)
Index("ix_rules_tenant_trigger", rules.c.tenant_id, rules.c.trigger, rules.c.enabled)
Index("ix_rules_tenant_created", rules.c.tenant_id, rules.c.created_at, rules.c.id)
Index("uq_rules_request", rules.c.tenant_id, rules.c.request_id, unique=True)
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
    # The engine (migration 0004): what came of the rule, the facts it saw, the
    # condition trace, and each action's result (see domain/runs.py).
    Column("trigger", String(40), nullable=False, server_default=""),
    Column("conversation", String(100), nullable=False, server_default=""),
    Column("outcome", String(30), nullable=False, server_default="matched"),
    Column("summary", Text, nullable=False, server_default=""),
    Column("facts", JSON, nullable=True),
    Column("trace", JSON, nullable=True),
    Column("actions", JSON, nullable=True),
    Column("causation_depth", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=False, server_default=""),
)
Index(
    "ix_rule_runs_rule_customer",
    rule_runs.c.tenant_id,
    rule_runs.c.rule_id,
    rule_runs.c.customer,
    rule_runs.c.created_at,
)
# ListRuleRuns: a tenant's runs (or one rule's) newest first.
Index("ix_rule_runs_tenant_created", rule_runs.c.tenant_id, rule_runs.c.created_at, rule_runs.c.id)
Index(
    "ix_rule_runs_tenant_rule_created",
    rule_runs.c.tenant_id,
    rule_runs.c.rule_id,
    rule_runs.c.created_at,
    rule_runs.c.id,
)

# Projections (migration 0004): the facts rules keeps of customers (from the
# CustomerSnapshot every customer event carries; a newer version only) and of
# conversations (from messaging's events), so evaluation never calls a service.
customer_projections = Table(
    "customer_projections",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("customer", String(100), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("facts", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
conversation_projections = Table(
    "conversation_projections",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("conversation", String(100), primary_key=True),
    Column("customer", String(100), nullable=False),
    Column("facts", JSON, nullable=False),
    # The time of the newest event merged in; older events are not applied.
    Column("event_time", DateTime(timezone=True), nullable=False),
)

# The evaluation log (migration 0004): every triggering event's facts, kept for
# the tenant's retention (30 days by default); backtests replay it.
evaluation_log = Table(
    "evaluation_log",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("event_id", String(100), primary_key=True),
    Column("trigger", String(40), nullable=False),
    Column("customer", String(100), nullable=False),
    Column("conversation", String(100), nullable=False),
    Column("facts", JSON, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("causing_run", String(120), nullable=False),
    Column("causation_depth", Integer, nullable=False),
)
Index("ix_evaluation_log_tenant_time", evaluation_log.c.tenant_id, evaluation_log.c.occurred_at)

# Per rule and hour (UTC) counters (migration 0004): GetRuleStatistics adds them up.
rule_hourly_stats = Table(
    "rule_hourly_stats",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("rule_id", String(36), primary_key=True),
    Column("hour", DateTime(timezone=True), primary_key=True),
    *(Column(name, Integer, nullable=False, server_default="0") for name in STATISTICS_COUNTERS),
)
# The statistics reporter reads the last two days' rows every few seconds (migration 0007):
# by this index, not through every rule's every hour.
Index("ix_rule_hourly_stats_hour", rule_hourly_stats.c.hour)

# The counter values last reported (migration 0006): rule.statistics_reported
# carries what rule_hourly_stats gained since (adapters/statistics_reporter.py).
rule_hourly_stats_reported = Table(
    "rule_hourly_stats_reported",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("rule_id", String(36), primary_key=True),
    Column("hour", DateTime(timezone=True), primary_key=True),
    *(Column(name, Integer, nullable=False, server_default="0") for name in STATISTICS_COUNTERS),
)

# A tenant's rule settings (migration 0004): time zone, calendar, log retention,
# the sealed webhook secret.
rule_settings = Table(
    "rule_settings",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("time_zone", String(64), nullable=False),
    Column("business_hours", JSON, nullable=False),
    Column("holidays", JSON, nullable=False),
    Column("retention_seconds", Integer, nullable=False),
    Column("webhook_secret", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Durable timers of the time triggers (migration 0005, domain/timers.py): one
# row per wait of a rule for a subject, unique by its key; the id is derived
# from the key. The poller claims pending rows that are due.
rule_timers = Table(
    "rule_timers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("rule_id", String(36), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("trigger", String(40), nullable=False),
    # The conversation, the case, or "schedule".
    Column("subject", String(100), nullable=False),
    # The stretch of the wait: the last agent reply time, the case's open time,
    # the schedule's occurrence.
    Column("cycle", String(64), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("state", String(12), nullable=False),  # pending, fired, cancelled
    Column("customer", String(100), nullable=False),
    Column("conversation", String(100), nullable=False),
    Column("facts", JSON, nullable=False),
    # A schedule's occurrence: the last customer a committed batch covered.
    Column("cursor", String(100), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint(
        "tenant_id", "rule_id", "rule_version", "subject", "cycle", name="uq_rule_timers_key"
    ),
)
Index("ix_rule_timers_due", rule_timers.c.state, rule_timers.c.due_at)
Index("ix_rule_timers_subject", rule_timers.c.tenant_id, rule_timers.c.subject, rule_timers.c.state)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
