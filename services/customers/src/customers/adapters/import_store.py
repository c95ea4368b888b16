"""ImportStore in SQL: an import batch's lookups and inserts, a few statements per batch.

Lookups go through unique or covering indexes (channel identities, contact
keys), one statement per kind of key for a whole batch. On PostgreSQL they
are LATERAL lookups per value, because "IN (...)" is planned as a filter over
a whole tenant while a table's statistics are stale (during a bulk import
they always are); on SQLite they are "IN (...)".

Inserts bypass the ORM's per-row parameter handling: COPY on PostgreSQL, and
one executemany of plain tuples on SQLite (values converted by the columns'
own bind processors, so they read back as SQLAlchemy wrote them). Columns
left out take their server defaults. The batch's events go to the outbox the
same way, in the same transaction (see adapters/import_events.py).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from psycopg.errors import IntegrityError as PgIntegrityError
from sqlalchemy import Select, String, Table, case, func, literal, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.db.bulk_insert import driver_connection, insert_rows
from crosstalk_common.db.scope import scope_clause
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from crosstalk_common.domain.channel import Channel
from crosstalk_common.visibility import Visibility
from customers.adapters.id_lists import one_of
from customers.adapters.import_events import outbox_rows
from customers.adapters.mapping import event_pb
from customers.adapters.repository import _row as customer_row
from customers.adapters.repository import timeline_row
from customers.adapters.snapshots import with_snapshots
from customers.adapters.tables import (
    customer_contact_keys,
    customer_identities,
    customer_tags,
    customers,
    outbox,
    timeline,
)
from customers.app.imports import Match
from customers.app.ports import IdentityTaken, UnitOfWork
from customers.domain.duplicates import contact_keys
from customers.domain.events import CustomerEvent
from customers.domain.imports import identity_key
from customers.domain.model import ChannelIdentity, Customer, TimelineEntry

c = customers.c
ci = customer_identities.c
ck = customer_contact_keys.c
# The tables an import adds rows to, besides its events.
_GROWN = tuple(
    t.name for t in (customers, customer_identities, customer_tags, customer_contact_keys, timeline)
)
# Values per SQLite lookup: far below its bound-parameter limit (32,766). On
# PostgreSQL the values travel as one array parameter, so a batch is one lookup.
_SQLITE_CHUNK = 5000


class SqlImportStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._dialect = session.get_bind().dialect
        self._postgres = self._dialect.name == "postgresql"

    def _chunks(self, values: Sequence[Any]) -> list[Sequence[Any]]:
        if self._postgres:
            return [values] if values else []
        return [values[i : i + _SQLITE_CHUNK] for i in range(0, len(values), _SQLITE_CHUNK)]

    def _visible(self, visibility: Visibility) -> ColumnElement[bool]:
        clause = scope_clause(visibility, owner=c.owner_member_id, department=c.department_id)
        return case((clause, true()), else_=False).label("visible")

    def _lookup(
        self,
        visibility: Visibility,
        key_column: Any,
        keys: list[str],
        table_where: Sequence[ColumnElement[bool]],
        customer_id: Any,
    ) -> Select[Any]:
        """(key, customer id, visible) of the customers holding each key, oldest first."""
        if not self._postgres:
            return (
                select(key_column.label("key"), c.id, self._visible(visibility))
                .join(customers, c.id == customer_id)
                .where(*table_where, key_column.in_(keys))
                .order_by(c.created_at, c.id)
            )
        wanted = (
            func.unnest(literal(keys, ARRAY(String))).table_valued("key").render_derived("wanted")
        )
        hit = (
            select(c.id, self._visible(visibility))
            .join(customers, c.id == customer_id)
            .where(*table_where, key_column == wanted.c.key)
            .order_by(c.created_at, c.id)
            .limit(1)
            .lateral("hit")
        )
        return select(wanted.c.key, hit.c.id, hit.c.visible).join(hit, true())

    async def identity_matches(
        self, tenant_id: str, visibility: Visibility, identities: Sequence[ChannelIdentity]
    ) -> dict[tuple[str, str], Match]:
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for identity in dict.fromkeys(identities):
            groups[(identity.channel.value, identity.store)].append(identity.external_id)
        found: dict[tuple[str, str], Match] = {}
        for (channel, store), external_ids in groups.items():
            same = (ci.tenant_id == tenant_id, ci.channel == channel, ci.store == store)
            for chunk in self._chunks(external_ids):
                query = self._lookup(visibility, ci.external_id, list(chunk), same, ci.customer_id)
                for r in await self._session.execute(query):
                    identity = ChannelIdentity(Channel(channel), r.key, store)
                    found[("identity", identity_key(identity))] = Match(r.id, bool(r.visible))
        return found

    async def contact_matches(
        self, tenant_id: str, visibility: Visibility, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Match]:
        groups: dict[str, list[str]] = defaultdict(list)
        for kind, value in dict.fromkeys(keys):
            groups[kind].append(value)
        found: dict[tuple[str, str], Match] = {}
        for kind, values in groups.items():
            same = (ck.tenant_id == tenant_id, ck.kind == kind)
            for chunk in self._chunks(values):
                query = self._lookup(visibility, ck.value, list(chunk), same, ck.customer_id)
                for r in await self._session.execute(query):
                    found.setdefault((kind, r.key), Match(r.id, bool(r.visible)))
        return found

    async def existing_ids(self, tenant_id: str, customer_ids: Sequence[str]) -> set[str]:
        # By primary key alone (the tenant indexes would make this a scan).
        rows = await self._session.execute(
            select(c.id, c.tenant_id).where(one_of(self._dialect, c.id, customer_ids))
        )
        return {r.id for r in rows if r.tenant_id == tenant_id}

    async def add_customers(self, batch: Sequence[Customer]) -> None:
        if not batch:
            return
        identities = [
            {
                "customer_id": customer.id,
                "tenant_id": customer.tenant_id,
                "channel": i.channel.value,
                "store": i.store,
                "external_id": i.external_id,
            }
            for customer in batch
            for i in customer.identities
        ]
        tags = [
            {
                "customer_id": customer.id,
                "tenant_id": customer.tenant_id,
                "tag": tag,
                "created_at": customer.created_at,
            }
            for customer in batch
            for tag in sorted(customer.tags)
        ]
        await self._begin()
        try:
            async with self._session.begin_nested():
                await self._insert(customers, [customer_row(x) for x in batch])
                await self._insert(customer_identities, identities)
                await self._insert(customer_tags, tags)
                # customer_contact_keys as adapters/contact_keys.py writes them.
                await self._insert(customer_contact_keys, _contact_key_rows(batch))
        except (IntegrityError, PgIntegrityError, sqlite3.IntegrityError) as exc:
            raise IdentityTaken(str(exc)) from exc

    async def add_timeline(self, entries: Sequence[TimelineEntry]) -> None:
        await self._insert(timeline, [timeline_row(e) for e in entries])

    async def add_events(
        self, tenant_id: str, events: Sequence[tuple[str, Message | CustomerEvent]]
    ) -> None:
        # Each event about a customer with its snapshot (the batch's rows are written).
        snapped = await with_snapshots(self._session, tenant_id, [e for _, e in events])
        rows = outbox_rows(
            tenant_id,
            [(event_id, event_pb(e)) for (event_id, _), e in zip(events, snapped, strict=True)],
        )
        await self._insert(outbox, rows)

    async def refresh_statistics(self) -> None:
        """ANALYZE on PostgreSQL, whose plans follow the statistics autovacuum
        gathers in its own time: planned for the few rows a tenant had before
        its import, listing its customers page by page read and sorted all of
        them for every page. SQLite plans without statistics (none are kept)."""
        if self._postgres:
            await self._session.execute(text(f"ANALYZE {', '.join(_GROWN)}"))

    async def _begin(self) -> None:
        """Open the transaction on SQLite before a savepoint.

        Python's sqlite3 begins a transaction only before the first INSERT,
        UPDATE or DELETE; a SAVEPOINT issued first would open the transaction
        itself, and releasing it would commit the batch's customers without
        the rows written after it (its events).
        """
        if self._postgres:
            return
        driver = await driver_connection(self._session)
        if not driver.in_transaction:
            await driver.execute("BEGIN")

    async def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        await insert_rows(self._session, table, rows)


def _contact_key_rows(batch: Sequence[Customer]) -> list[dict[str, Any]]:
    return [
        {"customer_id": x.id, "tenant_id": x.tenant_id, "kind": kind, "value": value}
        for x in batch
        for kind, value in sorted(contact_keys(x.emails, x.phones))
    ]


def import_store_of(uow: UnitOfWork) -> SqlImportStore:
    """The store working in a unit of work's transaction."""
    if not isinstance(uow, SqlUnitOfWork):
        raise TypeError(f"an SQL import store needs an SQL unit of work, not {type(uow)}")
    return SqlImportStore(uow.session)
