"""Reporting's read models (built from events only).

Measures are stored per tenant, measure, UTC hour and combination of
dimension values (``dims_key`` hashes the combination): a count, a sum, and
in ``measure_buckets`` the histogram of measured values. Each observation is
added to several rows, told apart by ``kind``: "full" (every dimension; rows
with a ``tag`` are fan-out copies, one per tag of the customer), "all" (no
dimension) and one per dimension ("channel", "agent", ..., "tag") with only that
dimension set. A query reads the narrowest kind that answers it: "all" for a
total, the dimension's own rows for a split or filter on one dimension, "full"
for two. Owner and department (the data scope) are on every row.
``measure_facts`` keeps each observation for drill-down. The ``*_facts``
projections hold what folding needs to remember (reply state, case state,
customers' owners and tiers) as JSON.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
)

from crosstalk_common.db.event_tables import inbox_table, outbox_table
from reporting.domain.catalogue import ROW_DIMENSIONS

metadata = MetaData()

_DIMENSION_LENGTH = 120


def _dimension_columns() -> list[Column[str]]:
    return [
        Column(d.value, String(_DIMENSION_LENGTH), nullable=False, server_default="")
        for d in ROW_DIMENSIONS
    ]


def _measure_table(name: str, when: list[Column[Any]], histogram: bool, *key: str) -> Table:
    """A measure table: per tenant, measure, ``when`` (an hour, or a shift's
    day) and dimensions key (and histogram bucket), the kind, scope and
    dimension columns and the count (and total)."""
    return Table(
        name,
        metadata,
        Column("tenant_id", String(36), nullable=False),
        Column("measure", String(40), nullable=False),
        *when,
        Column("dims_key", String(40), nullable=False),
        *([Column("bucket", SmallInteger, nullable=False)] if histogram else []),
        Column("kind", String(12), nullable=False),
        Column("owner_member_id", String(36), nullable=False, server_default=""),
        Column("department_id", String(36), nullable=False, server_default=""),
        Column("tag", String(_DIMENSION_LENGTH), nullable=False, server_default=""),
        *_dimension_columns(),
        Column("count", BigInteger, nullable=False),
        *([] if histogram else [Column("total", Float, nullable=False)]),
        # A query reads one kind over a range of hours (days): one stretch of
        # the key. On SQLite the rows live in the key's B-tree (no rowid table
        # beside it).
        PrimaryKeyConstraint(*key, name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


def _hour() -> list[Column[Any]]:
    return [Column("hour", DateTime(timezone=True), nullable=False)]


def _day() -> list[Column[Any]]:
    return [
        Column("shift", SmallInteger, nullable=False),
        Column("day", Integer, nullable=False),
    ]


_HOUR_KEY = ("tenant_id", "measure", "kind", "hour", "dims_key")
measure_hours = _measure_table("measure_hours", _hour(), False, *_HOUR_KEY)
measure_buckets = _measure_table("measure_buckets", _hour(), True, *_HOUR_KEY, "bucket")

# The hour rows added up per day, for the shifts in ``measure_day_shifts``:
# day = (epoch seconds of the hour + 3600 * shift) // 86400, so the local days
# of a zone whose offset is ``shift`` hours (mod 24) are stored days
# (``domain/querying.cover``). Same kinds, dimensions and scope as the hours.
_DAY_KEY = ("tenant_id", "measure", "kind", "shift", "day", "dims_key")
measure_days = _measure_table("measure_days", _day(), False, *_DAY_KEY)
measure_day_buckets = _measure_table("measure_day_buckets", _day(), True, *_DAY_KEY, "bucket")

# Days still open (domain/querying.settled_through): each fold adds to their
# rows, so on PostgreSQL a row's newest version lands wherever the heap had room
# then, among every other measure's rows. Once the day is over they move, in
# the key's order, to measure_days / measure_day_buckets, where a query over
# many days then reads a few pages per day instead of a page per row. An
# observation's day rows are in one of the two; a query reads the settled
# tables over its whole run and these after the last settled day only.
measure_open_days = _measure_table("measure_open_days", _day(), False, *_DAY_KEY)
measure_open_day_buckets = _measure_table(
    "measure_open_day_buckets", _day(), True, *_DAY_KEY, "bucket"
)
for _open in (measure_open_days, measure_open_day_buckets):
    Index(f"ix_{_open.name}_day", _open.c.shift, _open.c.day)

# The shifts whose day rows (settled and open) hold every hour row (written in
# the same transaction as the day rows they vouch for), and the last stored day
# of each that has settled (-1: none yet).
measure_day_shifts = Table(
    "measure_day_shifts",
    metadata,
    Column("shift", SmallInteger, primary_key=True, autoincrement=False),
    Column("settled_through", Integer, nullable=False, server_default="-1"),
)

measure_facts = Table(
    "measure_facts",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("measure", String(40), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("customer", String(100), nullable=False, server_default=""),
    Column("count", Integer, nullable=False),
    Column("value", Float, nullable=False),
    Column("owner_member_id", String(36), nullable=False, server_default=""),
    Column("department_id", String(36), nullable=False, server_default=""),
    Column("tags", JSON, nullable=False),
    *_dimension_columns(),
    PrimaryKeyConstraint("tenant_id", "event_id", "seq", name="pk_measure_facts"),
)
Index(
    "ix_measure_facts_time", measure_facts.c.tenant_id, measure_facts.c.measure, measure_facts.c.at
)


def _projection(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("tenant_id", String(36), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("facts", JSON, nullable=False),
        PrimaryKeyConstraint("tenant_id", "subject", name=f"pk_{name}"),
    )


customer_facts = _projection("customer_facts")
conversation_facts = _projection("conversation_facts")
case_facts = _projection("case_facts")

# Report files: exports and scheduled runs, built by the report worker.
report_files = Table(
    "report_files",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("owner_member_id", String(36), nullable=False),
    Column("visibility", JSON, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("state", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("scheduled_report", String(36), nullable=False, server_default=""),
    Column("recipients", JSON, nullable=False),
    Column("filename", String(200), nullable=False, server_default=""),
    Column("content_type", String(100), nullable=False, server_default=""),
    Column("content", LargeBinary, nullable=False),
    Column("error", String(2000), nullable=False, server_default=""),
)
Index("ix_report_files_state", report_files.c.state, report_files.c.created_at)
Index("ix_report_files_expiry", report_files.c.expires_at)

scheduled_reports = Table(
    "scheduled_reports",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("owner_member_id", String(36), nullable=False),
    Column("visibility", JSON, nullable=False),
    Column("body", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("next_run_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)
Index("ix_scheduled_reports_due", scheduled_reports.c.enabled, scheduled_reports.c.next_run_at)
Index(
    "ix_scheduled_reports_tenant",
    scheduled_reports.c.tenant_id,
    scheduled_reports.c.created_at,
    scheduled_reports.c.id,
)

dashboards = Table(
    "dashboards",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("member_id", String(36), nullable=False),
    Column("tiles", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "member_id", name="pk_dashboards"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
