"""Reading customers' filterable values, and the change feed, from the database.

Customers come back column by column (``Loaded``): a million rows are
converted by numpy, not one Python object at a time. Times become int64
microseconds since the epoch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Select, String, Text, cast, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from customers.adapters.customer_filter_sql import custom_field_value, json_text
from customers.adapters.field_repository import SqlCustomFieldRepository
from customers.adapters.id_lists import one_of
from customers.adapters.tables import (
    customer_change_log,
    customer_change_log_horizon,
    customer_identities,
    customer_tags,
    customers,
)
from customers.domain.filter_fields import CUSTOM_FIELD_PREFIX
from customers.domain.model import CustomFieldDefinition

c = customers.c
TIME_FIELDS = ("create_time", "update_time", "last_active_time", "last_order_time")
_TIME_COLUMNS = (c.created_at, c.updated_at, c.last_active_at, c.last_order_time)
_PLAIN = {
    "display_name": c.display_name,
    "emails": json_text(c.emails),
    "phones": json_text(c.phones),
    "country": c.country,
    "language": c.language,
    "time_zone": c.time_zone,
    "lifecycle_stage": c.lifecycle_stage,
    "tier": c.tier_id,
    "owner": c.owner_member_id,
    "department": c.department_id,
    "score": c.score,
    "points_balance": c.points_balance,
    "order_count": c.order_count,
    "order_currency": c.order_currency,
    "order_value_units": c.order_value_units,
    "order_value_nanos": c.order_value_nanos,
    "blacklisted": c.blacklisted,
}


@dataclass
class Loaded:
    """Some customers of one tenant, as columns in the same order as ``ids``;
    tags, channels and stores as (customer id, value) pairs."""

    ids: list[str] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    tags: list[tuple[str, str]] = field(default_factory=list)
    channels: list[tuple[str, str]] = field(default_factory=list)
    stores: list[tuple[str, str]] = field(default_factory=list)

    def micros(self, name: str) -> np.ndarray[Any, np.dtype[np.int64]]:
        """A time column as int64 microseconds (``MISSING_TIME`` when NULL)."""
        values = self.columns[name]
        if any(isinstance(v, str) for v in values):
            return np.array(values, dtype="datetime64[us]").astype(np.int64)
        return np.array(
            [np.iinfo(np.int64).min if v is None else v for v in values], dtype=np.int64
        )


def _micros(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column) * 1_000_000), BigInteger)
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) text, which numpy parses.
    return cast(column, Text)


def _selected(
    conn: AsyncConnection, definitions: Mapping[str, CustomFieldDefinition]
) -> dict[str, ColumnElement[Any]]:
    """Column name -> the SQL giving it: the same expressions the SQL filters compare
    (JSON is read by the database, never decoded here)."""
    dialect = conn.dialect.name
    selected: dict[str, ColumnElement[Any]] = {"id": c.id, **_PLAIN}
    for name, column in zip(TIME_FIELDS, _TIME_COLUMNS, strict=True):
        selected[name] = _micros(column, dialect)
    for key, definition in definitions.items():
        selected[CUSTOM_FIELD_PREFIX + key] = custom_field_value(definition)
    return selected


def _customers_query(
    selected: Mapping[str, ColumnElement[Any]], where: list[ColumnElement[bool]]
) -> Select[Any]:
    return select(*selected.values()).where(*where)


def _take(loaded: Loaded, names: Sequence[str], rows: Sequence[Any]) -> None:
    columns = list(zip(*rows, strict=True))
    loaded.ids.extend(columns[0])
    for i, name in enumerate(names[1:], start=1):
        loaded.columns[name].extend(columns[i])


async def stream_customers(
    conn: AsyncConnection,
    tenant_id: str,
    definitions: Mapping[str, CustomFieldDefinition],
    *,
    rows: int = 20_000,
) -> AsyncIterator[Loaded]:
    """All the tenant's customers, ``rows`` at a time, in (create_time, id) order;
    without tags and identities (``stream_pairs``)."""
    selected = _selected(conn, definitions)
    query = _customers_query(selected, [c.tenant_id == tenant_id])
    result = await conn.stream(query.order_by(c.created_at, c.id))
    async for part in result.partitions(rows):
        loaded = Loaded()
        _take(loaded, list(selected), part)
        yield loaded


async def stream_pairs(
    conn: AsyncConnection, tenant_id: str, field_name: str, *, rows: int = 50_000
) -> AsyncIterator[list[tuple[str, str]]]:
    """(customer id, value) of every tag, channel or store of the tenant's customers."""
    t, i = customer_tags.c, customer_identities.c
    queries = {
        "tags": select(t.customer_id, t.tag).where(t.tenant_id == tenant_id),
        "channel": select(i.customer_id, i.channel).where(i.tenant_id == tenant_id),
        "store": select(i.customer_id, i.store).where(i.tenant_id == tenant_id, i.store != ""),
    }
    result = await conn.stream(queries[field_name])
    async for part in result.partitions(rows):
        yield [(cid, value) for cid, value in part]


FIELDS_CHANGED = "fields:"
"""The feed's id for "this tenant's custom field definitions changed"."""


async def load_definitions(
    conn: AsyncConnection, tenant_id: str
) -> dict[str, CustomFieldDefinition]:
    """The tenant's custom field definitions, by key."""
    async with AsyncSession(bind=conn) as session:
        return await SqlCustomFieldRepository(session).by_key(tenant_id)


def _written_where(
    dialect: str, tenant_id: str, since: int, until: int | ColumnElement[Any]
) -> list[ColumnElement[bool]]:
    """The log's rows after mark ``since`` (up to ``until`` on SQLite: see ``read_feed``)."""
    log = customer_change_log.c
    seq = [log.seq >= since] if dialect == "postgresql" else [log.seq > since, log.seq <= until]
    return [log.tenant_id == tenant_id, *seq]


def _written_since(dialect: str, tenant_id: str, since: int, until: int) -> Select[tuple[str]]:
    """The ids the log lists after mark ``since``; one written many times is listed many times."""
    where = _written_where(dialect, tenant_id, since, until)
    return select(customer_change_log.c.customer_id).where(*where)


async def load_changed(
    conn: AsyncConnection,
    tenant_id: str,
    definitions: Mapping[str, CustomFieldDefinition],
    since: int,
    until: int,
) -> Loaded:
    """The customers the feed lists after ``since`` (those still there), with tags
    and identities: selected by the feed, not listed by id."""
    written = _written_since(conn.dialect.name, tenant_id, since, until)
    loaded = Loaded()
    selected = _selected(conn, definitions)
    rows = (
        await conn.execute(
            _customers_query(selected, [c.tenant_id == tenant_id, c.id.in_(written)])
        )
    ).all()
    if rows:
        _take(loaded, list(selected), rows)
    t, i = customer_tags.c, customer_identities.c
    tagged = await conn.execute(
        select(t.customer_id, t.tag).where(t.tenant_id == tenant_id, t.customer_id.in_(written))
    )
    loaded.tags.extend((cid, tag) for cid, tag in tagged)
    identities = await conn.execute(
        select(i.customer_id, i.channel, i.store).where(
            i.tenant_id == tenant_id, i.customer_id.in_(written)
        )
    )
    for cid, channel, store in identities:
        loaded.channels.append((cid, channel))
        if store:
            loaded.stores.append((cid, store))
    return loaded


async def existing_ids(conn: AsyncConnection, tenant_id: str, ids: set[str]) -> set[str]:
    """Which of ``ids`` are customers of the tenant (the others were deleted)."""
    found = await conn.scalars(
        select(c.id).where(c.tenant_id == tenant_id, one_of(conn.dialect, c.id, ids))
    )
    return set(found)


# --- the change log (migrations 0007, 0008) ----------------------------------------------


def _mark_expression(dialect: str) -> ColumnElement[Any]:
    """Where the next read of the log starts.

    PostgreSQL: the oldest transaction still running, so that a transaction
    that commits later (with a smaller id than others already seen) is read
    next time. SQLite: the last sequence number, as writers commit in turn.
    """
    if dialect == "postgresql":
        return func.txid_snapshot_xmin(func.txid_current_snapshot())
    return select(func.coalesce(func.max(customer_change_log.c.seq), 0)).scalar_subquery()


async def change_mark(conn: AsyncConnection) -> int:
    """The log's current mark, taken before reading customers."""
    return int(await conn.scalar(select(_mark_expression(conn.dialect.name))) or 0)


@dataclass(frozen=True)
class FeedRead:
    mark: int  # where the next read starts
    changed: list[str]  # customer ids (or FIELDS_CHANGED rows), each once
    lost: bool  # rows after the previous mark were deleted: load the tenant afresh


async def read_feed(conn: AsyncConnection, tenant_id: str, mark: int) -> FeedRead:
    """What was written since ``mark``, the new mark and whether housekeeping
    deleted rows not yet read, in one statement (one snapshot: nothing
    committed in between is lost)."""
    dialect = conn.dialect.name
    now = _mark_expression(dialect)
    query = union_all(
        select(
            now.label("mark"),
            select(customer_change_log_horizon.c.pruned_through)
            .scalar_subquery()
            .label("pruned_through"),
            literal(None, String()).label("customer_id"),
        ),
        select(
            literal(None, BigInteger()),
            literal(None, BigInteger()),
            customer_change_log.c.customer_id,
        ).where(*_written_where(dialect, tenant_id, mark, now)),
    )
    rows = (await conn.execute(query)).all()
    head = next(r for r in rows if r.customer_id is None)
    pruned = int(head.pruned_through or 0)
    # PostgreSQL reads seq >= mark, SQLite seq > mark.
    lost = pruned >= mark > 0 if dialect == "postgresql" else pruned > mark
    changed = list(dict.fromkeys(r.customer_id for r in rows if r.customer_id is not None))
    return FeedRead(int(head.mark), changed, lost)
