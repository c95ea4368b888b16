"""Reporting's read models (built from events only)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, MetaData, PrimaryKeyConstraint, String, Table

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()

# Counts per tenant, event type and day, split by the owner and department of
# the customer the event is about, so a caller's data scope can apply to them.
daily_event_counts = Table(
    "daily_event_counts",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("event_type", String(60), nullable=False),
    Column("day", Date, nullable=False),
    Column("owner_member_id", String(36), nullable=False, server_default=""),
    Column("department_id", String(36), nullable=False, server_default=""),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "tenant_id",
        "event_type",
        "day",
        "owner_member_id",
        "department_id",
        name="pk_daily_event_counts",
    ),
)

# Who owns each customer, learnt from customer.created.
customer_owners = Table(
    "customer_owners",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("customer", String(100), nullable=False),
    Column("owner_member_id", String(36), nullable=False),
    Column("department_id", String(36), nullable=False),
    PrimaryKeyConstraint("tenant_id", "customer", name="pk_customer_owners"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
