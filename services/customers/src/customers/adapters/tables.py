"""The customers service's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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
    Column("tag", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("customer_id", "tag", name="pk_customer_tags"),
)
Index("ix_customer_tags_tenant_tag", customer_tags.c.tenant_id, customer_tags.c.tag)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
