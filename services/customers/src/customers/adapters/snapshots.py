"""The CustomerSnapshot of every event a transaction stages about a customer.

Set-based, once per unit of work (or import batch) and tenant, after its
writes, in a fixed number of statements whatever the number of customers:

* the snapshot versions of all the customers the events are about go up by
  the number of events about each (one upsert, in id order so that two
  transactions lock the rows in the same order);
* the customers, with their tier's display name, and their identities and
  tags (with the tags' display names) as JSON arrays, as
  ``one_customer_sql`` reads one customer.

On PostgreSQL the two are one statement (the upsert is a CTE the read joins);
on SQLite two, run in the event loop's thread when they are about a few
customers (``_FEW``), as the single-customer writes before them are.

Each event gets the customer as the transaction leaves them and its own
version: a customer with two events in the transaction gets versions v+1
and v+2, both with the final state (no one can see the state in between).
A customer whose row is gone (deleted) gets a deleted snapshot.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import JSON, String, bindparam, func, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from crosstalk_common.domain.channel import Channel
from customers.adapters.one_customer_sql import json_rows
from customers.adapters.tables import customer_identities, customer_tags, customers, tags, tiers
from customers.domain.events import CustomerEvent, CustomerSnapshot
from customers.domain.model import ChannelIdentity, LifecycleStage, Money

E = TypeVar("E")

# A unit of work about this many customers or fewer runs its statements in the
# event loop's thread on SQLite (``sqlite_one_trip.in_the_loop``): lookups by
# key, and a write in a transaction that holds the write lock already (it
# wrote the change before), so a single-customer write still commits in the
# loop, in one trip to the connection's thread.
_FEW = 8

# PostgreSQL: the upsert and the read, with identities and tags (and the
# tags' and the tier's display names), in one statement.
_BUMP_AND_READ_POSTGRESQL = text(
    "WITH bumped AS ("
    "INSERT INTO customer_snapshot_versions (customer_id, tenant_id, version) "
    "SELECT p->>0, :tenant_id, (p->>1)::bigint "
    "FROM json_array_elements(CAST(:pairs AS json)) p "
    "ON CONFLICT (customer_id) DO UPDATE "
    "SET version = customer_snapshot_versions.version + excluded.version "
    "RETURNING customer_id, version"
    ") SELECT b.customer_id AS bumped_id, b.version AS bumped_version, "
    "t.display_name AS tier_label, "
    "(SELECT coalesce(json_agg(json_build_array(i.channel, i.store, i.external_id)), "
    "'[]'::json) FROM customer_identities i WHERE i.customer_id = c.id) AS identities_json, "
    "(SELECT coalesce(json_agg(json_build_array(ct.tag, tg.display_name)), '[]'::json) "
    "FROM customer_tags ct LEFT JOIN tags tg ON tg.id = ct.tag "
    "WHERE ct.customer_id = c.id) AS tags_json, "
    "c.id, c.tenant_id, c.display_name, c.owner_member_id, c.department_id, c.score, "
    "c.points_balance, c.lifecycle_stage, c.country, c.language, c.custom_fields, "
    "c.order_count, c.order_currency, c.order_value_units, c.order_value_nanos, "
    "c.last_order_time, c.blacklisted FROM bumped b "
    "LEFT JOIN customers c ON c.id = b.customer_id AND c.tenant_id = :tenant_id "
    "LEFT JOIN tiers t ON t.id = c.tier_id AND t.tenant_id = :tenant_id"
)
# WHERE true: SQLite reads "SELECT ... FROM f(x) ON CONFLICT" as a join's ON otherwise.
_BUMP_SQLITE = text(
    "INSERT INTO customer_snapshot_versions (customer_id, tenant_id, version) "
    "SELECT json_extract(value, '$[0]'), :tenant_id, json_extract(value, '$[1]') "
    "FROM json_each(:pairs) WHERE true "
    "ON CONFLICT (customer_id) DO UPDATE "
    "SET version = customer_snapshot_versions.version + excluded.version "
    "RETURNING customer_id, version"
)
_BUMP_SQLITE_FEW = in_the_loop(_BUMP_SQLITE)


def _keys(column: ColumnElement[str], *, many: bool) -> ColumnElement[bool]:
    """``column`` is the id bound as "id", or one of the JSON array bound as "ids"
    (as ``id_lists.one_of``, but a statement built once: building one per call
    cost more than running it)."""
    if not many:
        return column == bindparam("id", type_=String)
    listed = bindparam("ids", type_=String)
    return column.in_(select(func.json_each(listed).table_valued("value").c.value))


# What a snapshot says of the customer (as the PostgreSQL statement's list).
_COLUMNS = [
    customers.c[name]
    for name in (
        "id",
        "tenant_id",
        "display_name",
        "owner_member_id",
        "department_id",
        "score",
        "points_balance",
        "lifecycle_stage",
        "country",
        "language",
        "custom_fields",
        "order_count",
        "order_currency",
        "order_value_units",
        "order_value_nanos",
        "last_order_time",
        "blacklisted",
    )
]


def _read_sqlite(*, many: bool) -> Select[Any]:
    """The customers with their tier's display name, identities and tags (with
    display names) as JSON arrays (as ``one_customer_sql``). By id only: given
    tenant_id = ?, SQLite may walk one of the (tenant_id, ...) indexes instead
    of looking the ids up, so the tenant is checked on the rows read."""
    c, i, ct = customers.c, customer_identities.c, customer_tags.c
    identities = type_coerce(
        select(json_rows(i.channel, i.store, i.external_id))
        .where(i.customer_id == c.id)
        .scalar_subquery(),
        JSON,
    ).label("identities_json")
    tag_rows = type_coerce(
        select(json_rows(ct.tag, tags.c.display_name))
        .select_from(customer_tags.outerjoin(tags, tags.c.id == ct.tag))
        .where(ct.customer_id == c.id)
        .scalar_subquery(),
        JSON,
    ).label("tags_json")
    return (
        select(*_COLUMNS, tiers.c.display_name.label("tier_label"), identities, tag_rows)
        .outerjoin(tiers, (tiers.c.id == c.tier_id) & (tiers.c.tenant_id == c.tenant_id))
        .where(_keys(c.id, many=many))
    )


_READ_SQLITE = {
    "one": in_the_loop(_read_sqlite(many=False)),
    "few": in_the_loop(_read_sqlite(many=True)),
    "many": _read_sqlite(many=True),
}


async def _bump_and_read(
    session: AsyncSession, tenant_id: str, counts: Counter[str]
) -> tuple[dict[str, int], dict[str, Any]]:
    """Each customer's version after adding its count, and the customer rows
    that exist (with ``tier_label``, ``identities_json`` and ``tags_json``)."""
    pairs = json.dumps([[cid, counts[cid]] for cid in sorted(counts)])
    params = {"tenant_id": tenant_id, "pairs": pairs}
    if session.get_bind().dialect.name == "postgresql":
        rows = (await session.execute(_BUMP_AND_READ_POSTGRESQL, params)).all()
        versions = {str(r.bumped_id): int(r.bumped_version) for r in rows}
        return versions, {r.id: r for r in rows if r.id is not None}
    few = len(counts) <= _FEW
    bumped = await session.execute(_BUMP_SQLITE_FEW if few else _BUMP_SQLITE, params)
    versions = {str(r.customer_id): int(r.version) for r in bumped}
    ids = list(counts)
    if len(ids) == 1:
        read = await session.execute(_READ_SQLITE["one"], {"id": ids[0]})
    else:
        read = await session.execute(
            _READ_SQLITE["few" if few else "many"], {"ids": json.dumps(ids)}
        )
    return versions, {r.id: r for r in read if r.tenant_id == tenant_id}


def _order_total(row: Any) -> Money | None:
    if not row.order_currency:
        return None
    return Money(row.order_currency, int(row.order_value_units), int(row.order_value_nanos))


def _snapshot(version: int, row: Any) -> CustomerSnapshot:
    """The snapshot of a customer read above."""
    return CustomerSnapshot(
        version=version,
        display_name=row.display_name,
        owner_member_id=row.owner_member_id,
        department_id=row.department_id,
        tags=tuple((str(tag), str(label or "")) for tag, label in row.tags_json or ()),
        tier_label=row.tier_label or "",
        score=int(row.score),
        points=int(row.points_balance),
        lifecycle_stage=LifecycleStage(row.lifecycle_stage) if row.lifecycle_stage else None,
        country=row.country,
        language=row.language,
        custom_fields=row.custom_fields or {},
        order_count=int(row.order_count),
        order_total=Money(
            row.order_currency, int(row.order_value_units), int(row.order_value_nanos)
        )
        if row.order_currency
        else None,
        last_order_time=as_utc(row.last_order_time) if row.last_order_time else None,
        blacklisted=bool(row.blacklisted),
        identities=tuple(
            ChannelIdentity(Channel(channel), external_id, store)
            for channel, store, external_id in row.identities_json or ()
        ),
    )


async def with_snapshots(session: AsyncSession, tenant_id: str, events: Sequence[E]) -> list[E]:
    """``events`` (of one tenant, in staging order), each CustomerEvent about a
    customer with its snapshot set; anything else as it is."""
    counts: Counter[str] = Counter(
        e.subject_id for e in events if isinstance(e, CustomerEvent) and e.subject_id
    )
    if not counts:
        return list(events)
    latest, rows = await _bump_and_read(session, tenant_id, counts)
    out: list[E] = []
    # The first event about a customer gets the lowest of its new versions.
    next_version = {cid: latest[cid] - n + 1 for cid, n in counts.items()}
    for event in events:
        if not isinstance(event, CustomerEvent) or not event.subject_id:
            out.append(event)
            continue
        cid = event.subject_id
        version = next_version[cid]
        next_version[cid] = version + 1
        row = rows.get(cid)
        snapshot = _snapshot(version, row) if row is not None else CustomerSnapshot(version, True)
        out.append(replace(event, snapshot=snapshot))
    return out
