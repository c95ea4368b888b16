"""The customers service's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
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
)
Index("ix_customers_tenant_created", customers.c.tenant_id, customers.c.created_at, customers.c.id)
Index("ix_customers_tenant_owner", customers.c.tenant_id, customers.c.owner_member_id)
Index("ix_customers_tenant_department", customers.c.tenant_id, customers.c.department_id)

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
Index("ix_customer_tags_tenant_tag", customer_tags.c.tenant_id, customer_tags.c.tag)

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

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
