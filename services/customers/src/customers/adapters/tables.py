"""The customers service's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    false,
)

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("emails", JSON, nullable=False),
    Column("phones", JSON, nullable=False),
    Column("country", String(2), nullable=False, default=""),
    Column("language", String(35), nullable=False, default=""),
    Column("score", Integer, nullable=False, default=0),
    Column("owner_member_id", String(36), nullable=False, default=""),
    Column("department_id", String(36), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("lifecycle_stage", String(20), nullable=False, default="", server_default=""),
    Column("blacklisted", Boolean, nullable=False, default=False, server_default=false()),
    Column("blacklist_reason", String(500), nullable=False, default="", server_default=""),
    Column("blacklist_time", DateTime(timezone=True), nullable=True),
    Column("points_balance", BigInteger, nullable=False, default=0, server_default="0"),
    Column("order_count", BigInteger, nullable=False, default=0, server_default="0"),
    # order_value: the sum of the orders in order_currency (the first order's currency).
    Column("order_currency", String(3), nullable=False, default="", server_default=""),
    Column("order_value_units", BigInteger, nullable=False, default=0, server_default="0"),
    Column("order_value_nanos", Integer, nullable=False, default=0, server_default="0"),
    Column("last_order_time", DateTime(timezone=True), nullable=True),
    Column("custom_fields", JSON, nullable=False, default=dict, server_default="{}"),
    Column("time_zone", String(64), nullable=False, default="", server_default=""),
    # The tier's id (see the tiers table); "" when the customer has none.
    Column("tier_id", String(36), nullable=False, default="", server_default=""),
    # When the customer last did something (a message, an order); NULL if never.
    Column("last_active_at", DateTime(timezone=True), nullable=True),
)
Index("ix_customers_tenant_created", customers.c.tenant_id, customers.c.created_at, customers.c.id)
Index("ix_customers_tenant_owner", customers.c.tenant_id, customers.c.owner_member_id)
Index("ix_customers_tenant_department", customers.c.tenant_id, customers.c.department_id)
# For filters on common attributes (migration 0006).
Index("ix_customers_tenant_stage", customers.c.tenant_id, customers.c.lifecycle_stage)
Index("ix_customers_tenant_tier", customers.c.tenant_id, customers.c.tier_id)
Index("ix_customers_tenant_score", customers.c.tenant_id, customers.c.score)
Index("ix_customers_tenant_last_active", customers.c.tenant_id, customers.c.last_active_at)
Index("ix_customers_tenant_country", customers.c.tenant_id, customers.c.country)

customer_identities = Table(
    "customer_identities",
    metadata,
    Column(
        "customer_id", String(36), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(36), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("store", String(100), nullable=False, default=""),
    Column("external_id", String(320), nullable=False),
    PrimaryKeyConstraint(
        "customer_id", "channel", "store", "external_id", name="pk_customer_identities"
    ),
    UniqueConstraint("tenant_id", "channel", "store", "external_id", name="uq_identity_per_tenant"),
)

customer_tags = Table(
    "customer_tags",
    metadata,
    Column(
        "customer_id", String(36), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(36), nullable=False),
    # The tag's id (see the tags table); exposed as "tags/{id}".
    Column("tag", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("customer_id", "tag", name="pk_customer_tags"),
)
Index(
    "ix_customer_tags_tenant_tag",
    customer_tags.c.tenant_id,
    customer_tags.c.tag,
    customer_tags.c.customer_id,
)

tag_groups = Table(
    "tag_groups",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("exclusive", Boolean, nullable=False, default=False),
    Column("description", String(500), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "display_name", name="uq_tag_group_name_per_tenant"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(64), nullable=False),
    # "" when the tag belongs to no group.
    Column("group_id", String(36), nullable=False, default=""),
    Column("color", String(7), nullable=False, default=""),
    Column("description", String(500), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "display_name", name="uq_tag_name_per_tenant"),
)
Index("ix_tags_tenant_group", tags.c.tenant_id, tags.c.group_id)

lifecycle_changes = Table(
    "customer_lifecycle_changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "customer_id", String(36), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(36), nullable=False),
    Column("from_stage", String(20), nullable=False),
    Column("to_stage", String(20), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("cause_event_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_lifecycle_changes_customer",
    lifecycle_changes.c.tenant_id,
    lifecycle_changes.c.customer_id,
    lifecycle_changes.c.created_at,
)

timeline = Table(
    "customer_timeline",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column(
        "customer_id", String(36), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(36), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("summary", String(500), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("resource", String(200), nullable=False),
    Column("details", JSON, nullable=False),
)
Index(
    "ix_customer_timeline_customer",
    timeline.c.tenant_id,
    timeline.c.customer_id,
    timeline.c.occurred_at,
)

score_changes = Table(
    "customer_score_changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "customer_id", String(36), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(36), nullable=False),
    Column("delta", BigInteger, nullable=False),
    Column("score", BigInteger, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("source", String(100), nullable=False),
    Column("cause_event_id", String(64), nullable=False),
    # NULL when the caller sent none (NULLs never collide in the unique key).
    Column("request_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "customer_id", "request_id", name="uq_score_change_request"),
)
Index(
    "ix_score_changes_customer",
    score_changes.c.tenant_id,
    score_changes.c.customer_id,
    score_changes.c.created_at,
)

points_entries = Table(
    "customer_points_entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "customer_id", String(36), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(36), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("order_name", String(200), nullable=False),
    Column("expire_time", DateTime(timezone=True), nullable=True),
    Column("actor", String(100), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "customer_id", "request_id", name="uq_points_entry_request"),
)
Index(
    "ix_points_entries_customer",
    points_entries.c.tenant_id,
    points_entries.c.customer_id,
    points_entries.c.created_at,
)

orders = Table(
    "customer_orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "customer_id", String(36), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(36), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("store", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_units", BigInteger, nullable=False),
    Column("amount_nanos", Integer, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("order_time", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "store", "external_id", name="uq_order_external_id"),
)
Index("ix_orders_customer", orders.c.tenant_id, orders.c.customer_id, orders.c.order_time)
Index("ix_orders_tenant_time", orders.c.tenant_id, orders.c.order_time)

custom_field_definitions = Table(
    "custom_field_definitions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("key", String(63), nullable=False),
    Column("display_name", String(64), nullable=False),
    Column("type", String(20), nullable=False),
    Column("options", JSON, nullable=False),
    Column("required", Boolean, nullable=False, default=False),
    Column("description", String(500), nullable=False, default=""),
    Column("sort_order", Integer, nullable=False, default=0),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "key", name="uq_custom_field_key_per_tenant"),
)

# Limits a tenant set in identity, copied from identity's tenant events.
tenant_limits = Table(
    "tenant_limits",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("max_filter_conditions", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Written only by database triggers (migrations 0007, 0008): a row per write
# to a customer, its tags or its identities, and per change to a tenant's
# custom field definitions. The filter index reads it to stay current
# (adapters/filter_index); housekeeping deletes old rows (adapters/change_log).
customer_change_log = Table(
    "customer_change_log",
    metadata,
    # SQLite: the rowid, growing in commit order. PostgreSQL: the writing
    # transaction's id, so not unique; there the table has no primary key
    # (a difference autogenerate does not compare) and an index on seq.
    Column(
        "seq",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    # a customer's id, or "fields:{tenant_id}" when custom field definitions changed
    Column("customer_id", String(64), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("written_at", BigInteger, nullable=False),  # Unix seconds
    Index("ix_customer_change_log_seq", "seq", info={"dialects": ("postgresql",)}),
)

# One row: rows of customer_change_log up to this seq have been deleted.
customer_change_log_horizon = Table(
    "customer_change_log_horizon",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("pruned_through", BigInteger, nullable=False),
)

segments = Table(
    "segments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("description", String(500), nullable=False, default=""),
    # A serialized crosstalk.common.v1.Condition.
    Column("condition", LargeBinary, nullable=False),
    Column("visibility", String(10), nullable=False),
    Column("owner_member_id", String(36), nullable=False),
    Column("customer_count", BigInteger, nullable=False, default=0),
    Column("count_time", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint(
        "tenant_id", "owner_member_id", "display_name", name="uq_segment_name_per_owner"
    ),
)
Index("ix_segments_tenant_owner", segments.c.tenant_id, segments.c.owner_member_id)

customer_merges = Table(
    "customer_merges",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    # The surviving customer and the one folded into it (now deleted).
    Column("target_id", String(36), nullable=False),
    Column("merged_id", String(36), nullable=False),
    Column("merged_display_name", String(200), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "merged_id", name="uq_customer_merged_once"),
)
Index("ix_customer_merges_target", customer_merges.c.tenant_id, customer_merges.c.target_id)
Index("ix_customer_merges_request", customer_merges.c.tenant_id, customer_merges.c.request_id)

# Each customer's emails and phones, normalized ("email": lowercased, "phone":
# digits with a leading '+'), for finding duplicates by SQL grouping.
customer_contact_keys = Table(
    "customer_contact_keys",
    metadata,
    Column(
        "customer_id", String(36), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(36), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("value", String(320), nullable=False),
    PrimaryKeyConstraint("customer_id", "kind", "value", name="pk_customer_contact_keys"),
)
Index(
    "ix_customer_contact_keys_value",
    customer_contact_keys.c.tenant_id,
    customer_contact_keys.c.kind,
    customer_contact_keys.c.value,
    customer_contact_keys.c.customer_id,
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("description", String(500), nullable=False, default=""),
    # What to do (operation, condition, options), as the use case wrote it.
    Column("spec", JSON, nullable=False),
    # The caller's data scope when the job was started (jobs act inside it).
    Column("scope", JSON, nullable=False),
    # Where a resumed job carries on (e.g. the last customer key done).
    Column("cursor", JSON, nullable=False, default=dict),
    # What the job produced for readers (import preview, export file facts).
    Column("result", JSON, nullable=False, default=dict),
    Column("total_count", BigInteger, nullable=False, default=0),
    Column("processed_count", BigInteger, nullable=False, default=0),
    Column("succeeded_count", BigInteger, nullable=False, default=0),
    Column("failed_count", BigInteger, nullable=False, default=0),
    Column("errors", JSON, nullable=False, default=list),
    Column("error_message", String(1000), nullable=False, default=""),
    Column("creator_member_id", String(36), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("preview_only", Boolean, nullable=False, default=False),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    # A worker holds a running job until this time and renews it while working.
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "request_id", name="uq_job_request"),
)
Index("ix_jobs_tenant_created", jobs.c.tenant_id, jobs.c.created_at, jobs.c.id)
Index("ix_jobs_state", jobs.c.state)

# Files of a job (an import's upload, an export's output) in chunks, so no
# reader or writer needs the whole file in memory.
job_file_chunks = Table(
    "job_file_chunks",
    metadata,
    Column("job_id", String(36), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    # "input" or "output".
    Column("role", String(10), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("job_id", "role", "seq", name="pk_job_file_chunks"),
)

score_rules = Table(
    "score_rules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("event_type", String(64), nullable=False),
    # A serialized crosstalk.common.v1.Condition; NULL when the rule has none.
    Column("condition", LargeBinary, nullable=True),
    Column("points", BigInteger, nullable=False),
    Column("frequency", String(12), nullable=False),
    Column("cap_points", BigInteger, nullable=False, default=0),
    Column("cap_period", String(10), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_score_rules_tenant_event", score_rules.c.tenant_id, score_rules.c.event_type)

# A tenant's score rules change only with a new revision (bumped in the same
# transaction), so a replica keeps its enabled rules until the revision moves.
score_rule_revisions = Table(
    "score_rule_revisions",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

# Points a score rule awarded a customer for one event (caps and "once" read it).
score_rule_awards = Table(
    "score_rule_awards",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("rule_id", String(36), nullable=False),
    Column("customer_id", String(36), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("points", BigInteger, nullable=False),
    # When the event happened: a cap counts the awards of its period by this.
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("rule_id", "customer_id", "event_id", name="uq_score_rule_award_event"),
)
Index(
    "ix_score_rule_awards_customer",
    score_rule_awards.c.tenant_id,
    score_rule_awards.c.rule_id,
    score_rule_awards.c.customer_id,
    score_rule_awards.c.created_at,
)

# Each customer's snapshot version (migration 0011): the version of the
# CustomerSnapshot the last event about them carried. Not in the customers row,
# so it outlives the customer (its deleted=true snapshot is one version more).
customer_snapshot_versions = Table(
    "customer_snapshot_versions",
    metadata,
    Column("customer_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("version", BigInteger, nullable=False),
)

tiers = Table(
    "tiers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(64), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("description", String(500), nullable=False, default=""),
    Column("color", String(7), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "rank", name="uq_tier_rank_per_tenant"),
    UniqueConstraint("tenant_id", "display_name", name="uq_tier_name_per_tenant"),
)

tier_rules = Table(
    "tier_rules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("tier_id", String(36), nullable=False),
    # A serialized crosstalk.common.v1.Condition over customer fields.
    Column("condition", LargeBinary, nullable=False),
    Column("allow_downgrade", Boolean, nullable=False, default=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_tier_rules_tenant", tier_rules.c.tenant_id)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
