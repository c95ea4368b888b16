"""Reporting's read models (built from events only)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, MetaData, PrimaryKeyConstraint, String, Table

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()

daily_event_counts = Table(
    "daily_event_counts",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("event_type", String(60), nullable=False),
    Column("day", Date, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "event_type", "day", name="pk_daily_event_counts"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
