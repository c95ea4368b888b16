"""Customers in SQL, always filtered by tenant."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import Executable

from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.conditions.model import Node
from crosstalk_common.db.key_pairs import pairs_in
from crosstalk_common.db.keyset import past
from crosstalk_common.db.scope import scope_clause
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from crosstalk_common.domain.channel import Channel
from crosstalk_common.visibility import Visibility
from customers.adapters.contact_keys import insert_contact_keys, write_contact_keys
from customers.adapters.customer_filter_sql import custom_field_keys, customer_filter_clause
from customers.adapters.field_repository import SqlCustomFieldRepository
from customers.adapters.filter_index.index import FilterIndex
from customers.adapters.id_lists import one_of
from customers.adapters.one_customer_sql import CUSTOMER, TENANT, one_customer
from customers.adapters.score_arithmetic import score_plus
from customers.adapters.tables import (
    customer_identities,
    customer_tags,
    customers,
    lifecycle_changes,
    orders,
    points_entries,
    score_changes,
    tenant_limits,
    timeline,
)
from customers.app.ports import IdentityTaken, OrderTaken, RequestReplayed
from customers.domain.model import (
    POINTS_LIMIT,
    ChannelIdentity,
    Customer,
    CustomFieldDefinition,
    LifecycleChange,
    LifecycleStage,
    Money,
    Order,
    OrderTotals,
    PointsEntry,
    PointsKind,
    ScoreChange,
    TimelineEntry,
)

_SYSTEM = Visibility.everything()


def _visible(visibility: Visibility) -> ColumnElement[bool]:
    return scope_clause(
        visibility, owner=customers.c.owner_member_id, department=customers.c.department_id
    )


async def _customer_history(
    session: AsyncSession,
    t: Table,
    tenant_id: str,
    customer_id: str,
    after: list[str],
    limit: int,
) -> Sequence[Any]:
    """One customer's rows of a history table, newest first, after a keyset cursor."""
    where = [t.c.tenant_id == tenant_id, t.c.customer_id == customer_id]
    if after:
        at, last_id = datetime.fromisoformat(after[0]), after[1]
        where.append(past([t.c.created_at, t.c.id], [at, last_id], descending=True))
    result = await session.execute(
        select(t).where(*where).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
    )
    return result.all()


async def _row_for_request(
    session: AsyncSession, t: Table, tenant_id: str, customer_id: str, request_id: str
) -> Any:
    """The row an earlier call with this request id wrote, if any."""
    result = await session.execute(
        select(t).where(
            t.c.tenant_id == tenant_id,
            t.c.customer_id == customer_id,
            t.c.request_id == request_id,
        )
    )
    return result.first()


# A single-customer write's statements, built once with bound parameters (no
# statement or cache key built per call), by key: on SQLite they run in the
# event loop once their transaction holds the write lock (sqlite_one_trip).
_ONE = and_(
    customers.c.tenant_id == bindparam("one_tenant"), customers.c.id == bindparam("one_customer")
)
_NOW = bindparam("one_now", type_=customers.c.updated_at.type)
# Its tags changed: the customer's next version.
_BUMP_VERSION = in_the_loop(
    update(customers).where(_ONE).values(version=customers.c.version + 1, updated_at=_NOW)
)
# Many customers' tags changed (a batch of rule actions), run with many: each
# customer's version up by its number of changes.
_BUMP_VERSION_BY = in_the_loop(
    update(customers)
    .where(_ONE)
    .values(
        version=customers.c.version + bindparam("one_changes", type_=customers.c.version.type),
        updated_at=_NOW,
    )
)
# The stage (SetLifecycleStage), if the version is still the one read.
_SAVE_STAGE = in_the_loop(
    update(customers)
    .where(_ONE, customers.c.version == bindparam("one_expected_version"))
    .values(
        lifecycle_stage=bindparam("one_stage", type_=customers.c.lifecycle_stage.type),
        version=bindparam("one_version", type_=customers.c.version.type),
        updated_at=_NOW,
    )
)
_TAGS_OF_ONE = in_the_loop(
    select(customer_tags.c.tag).where(
        customer_tags.c.tenant_id == bindparam("one_tenant"),
        customer_tags.c.customer_id == bindparam("one_customer"),
    )
)
_ADD_TAG = in_the_loop(insert(customer_tags))
_ADD_LIFECYCLE_CHANGE = in_the_loop(insert(lifecycle_changes))
_ADD_TIMELINE = in_the_loop(insert(timeline))
# A new customer's row (CreateCustomer, ResolveIdentity): one statement for every
# call, not one built from the row's values each time.
# Marked: the commit of a transaction whose every write was marked runs in the
# event loop on SQLite (sqlite_one_trip); the first write makes its trip anyway.
_ADD_CUSTOMER = in_the_loop(insert(customers))
_ADD_IDENTITY = in_the_loop(insert(customer_identities))
# A new customer's identity, claimed: skipped (no row back) when the tenant's
# identity is held already, so that taking it needs no savepoint to survive
# the unique violation (the caller rolls the whole transaction back).
_CLAIM_IDENTITY = {
    dialect: in_the_loop(
        insert_of(customer_identities)
        .on_conflict_do_nothing()
        .returning(customer_identities.c.customer_id)
    )
    for dialect, insert_of in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


# ResolveIdentity's reads (per message from messaging): lookups by the unique key
# uq_identity_per_tenant, in the event loop on SQLite; identities_taken marks its
# statement only for up to _FEW_KEYS identities (an import's batch makes its trip).
_i = customer_identities.c
_IDENTITY_OWNER = in_the_loop(
    select(_i.customer_id).where(
        _i.tenant_id == bindparam("tenant_id"),
        _i.channel == bindparam("channel"),
        _i.store == bindparam("store"),
        _i.external_id == bindparam("external_id"),
    )
)
_FEW_KEYS = 8


async def _execute_rows(
    session: AsyncSession, statement: Executable, rows: list[dict[str, Any]]
) -> None:
    """``statement`` run for each row, in one go: a single row as a plain execute,
    which a statement marked ``in_the_loop`` may run in the event loop on SQLite
    (a run with many makes its trip)."""
    if rows:
        await session.execute(statement, rows[0] if len(rows) == 1 else rows)


_S = TypeVar("_S", bound=Executable)


def _few_in_the_loop(statement: _S, ids: Sequence[str]) -> _S:
    """A read of a few customers by key (a live batch's) marked to run in the
    event loop on SQLite; of more (a page, an import's batch), as it is."""
    return in_the_loop(statement) if len(ids) <= _FEW_KEYS else statement


def _identity_rows(customer: Customer) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": customer.id,
            "tenant_id": customer.tenant_id,
            "channel": i.channel.value,
            "store": i.store,
            "external_id": i.external_id,
        }
        for i in customer.identities
    ]


def _one(tenant_id: str, customer_id: str, **more: Any) -> dict[str, Any]:
    return {"one_tenant": tenant_id, "one_customer": customer_id, **more}


class SqlCustomerRepository:
    def __init__(self, session: AsyncSession, filter_index: FilterIndex | None = None) -> None:
        self._session = session
        self._index = filter_index

    async def _definitions(self, tenant_id: str) -> dict[str, CustomFieldDefinition]:
        return await SqlCustomFieldRepository(self._session).by_key(tenant_id)

    def _one_of(self, column: ColumnElement[str], ids: Sequence[str]) -> ColumnElement[bool]:
        """``column`` is one of a page's ids (one JSON parameter: ``id_lists``)."""
        if len(ids) == 1:  # one customer (a get): a plain key lookup
            return column == ids[0]
        return one_of(self._session.get_bind().dialect, column, ids)

    async def add(self, customer: Customer) -> None:
        """A new customer, with their identities and contact keys. IdentityTaken
        when one of the identities is held already (or named twice): the
        customer's row is written by then, so the caller rolls back."""
        await self._session.execute(_ADD_CUSTOMER, _row(customer))
        claim = _CLAIM_IDENTITY[self._session.get_bind().dialect.name]
        for row in _identity_rows(customer):
            # One statement per identity (a new customer has one or a few), each
            # built once and run in the loop on SQLite.
            if (await self._session.execute(claim, row)).first() is None:
                identity = f"{row['channel']}:{row['store']}:{row['external_id']}"
                raise IdentityTaken(f"the identity {identity} is held already")
        await insert_contact_keys(self._session, [customer])  # a new customer has none

    async def _insert_identities(self, customer: Customer) -> None:
        rows = _identity_rows(customer)
        if rows:
            # One row (ResolveIdentity's) as a single execute: it may run in the loop.
            await self._session.execute(_ADD_IDENTITY, rows[0] if len(rows) == 1 else rows)

    async def get(
        self, tenant_id: str, customer_id: str, visibility: Visibility = _SYSTEM
    ) -> Customer | None:
        # One statement, built once per scope: the row with its identities and tags.
        row = (
            await self._session.execute(
                one_customer(visibility), {TENANT: tenant_id, CUSTOMER: customer_id}
            )
        ).first()
        return None if row is None else customer_of_one_customer_row(row)

    async def identity_owner(self, tenant_id: str, identity: ChannelIdentity) -> str | None:
        """The id of the customer holding the identity, whoever may see them."""
        owner = await self._session.scalar(
            _IDENTITY_OWNER,
            {
                "tenant_id": tenant_id,
                "channel": identity.channel.value,
                "store": identity.store,
                "external_id": identity.external_id,
            },
        )
        return None if owner is None else str(owner)

    async def identities_taken(
        self, tenant_id: str, identities: tuple[ChannelIdentity, ...], *, except_id: str = ""
    ) -> list[ChannelIdentity]:
        if not identities:
            return []
        keys = [(i.channel.value, i.store, i.external_id) for i in identities]
        statement = select(
            customer_identities.c.channel,
            customer_identities.c.store,
            customer_identities.c.external_id,
        ).where(
            customer_identities.c.tenant_id == tenant_id,
            customer_identities.c.customer_id != except_id,
            tuple_(
                customer_identities.c.channel,
                customer_identities.c.store,
                customer_identities.c.external_id,
            ).in_(keys),
        )
        if len(keys) <= _FEW_KEYS:
            statement = in_the_loop(statement)
        rows = await self._session.execute(statement)
        return [ChannelIdentity(Channel(r.channel), r.external_id, r.store) for r in rows]

    async def save(self, customer: Customer, *, expected_version: int) -> bool:
        row = _row(customer)
        # score and points_balance change only through add_to_score / add_points.
        del row["id"], row["tenant_id"], row["created_at"], row["score"], row["points_balance"]
        if not await self._update_if_version(customer, expected_version, row):
            return False
        await self._session.execute(
            delete(customer_identities).where(customer_identities.c.customer_id == customer.id)
        )
        await self._insert_identities(customer)
        await write_contact_keys(self._session, customer)
        return True

    async def save_stage(self, customer: Customer, *, expected_version: int) -> bool:
        """Writes the lifecycle stage (and version, updated_at) only, if the
        version is still ``expected_version``: a stage change leaves the
        identities and contact keys as they are, so ``save`` would rewrite
        them for nothing."""
        stage = customer.lifecycle_stage.value if customer.lifecycle_stage else ""
        result = await self._session.execute(
            _SAVE_STAGE,
            _one(
                customer.tenant_id,
                customer.id,
                one_expected_version=expected_version,
                one_stage=stage,
                one_version=customer.version,
                one_now=customer.updated_at,
            ),
        )
        return getattr(result, "rowcount", 0) == 1

    async def _update_if_version(
        self, customer: Customer, expected_version: int, values: dict[str, Any]
    ) -> bool:
        """Writes ``values`` to the customer's row if its version is still
        ``expected_version`` (optimistic concurrency); whether it did."""
        result = await self._session.execute(
            update(customers)
            .where(
                customers.c.tenant_id == customer.tenant_id,
                customers.c.id == customer.id,
                customers.c.version == expected_version,
            )
            .values(**values)
        )
        return getattr(result, "rowcount", 0) == 1

    async def delete(self, tenant_id: str, customer_id: str, visibility: Visibility) -> bool:
        where = and_(
            customers.c.tenant_id == tenant_id,
            customers.c.id == customer_id,
            _visible(visibility),
        )
        if await self._session.scalar(select(customers.c.id).where(where)) is None:
            return False
        for child in (
            customer_identities,
            customer_tags,
            lifecycle_changes,
            timeline,
            score_changes,
            points_entries,
            orders,
        ):
            await self._session.execute(delete(child).where(child.c.customer_id == customer_id))
        await self._session.execute(delete(customers).where(where))
        return True

    async def add_tags(
        self, tenant_id: str, customer_id: str, tags: frozenset[str]
    ) -> frozenset[str]:
        """Add tags; returns the ones the customer did not have yet."""
        have = set((await self._session.scalars(_TAGS_OF_ONE, _one(tenant_id, customer_id))).all())
        new = frozenset(tags - have)
        if new:
            now = utc_now()
            rows = [
                {"customer_id": customer_id, "tenant_id": tenant_id, "tag": t, "created_at": now}
                for t in sorted(new)
            ]
            if len(rows) == 1:
                await self._session.execute(_ADD_TAG, rows[0])
            else:  # many rows in one statement (a list of them would be executemany)
                await self._session.execute(in_the_loop(insert(customer_tags).values(rows)))
            await self._session.execute(_BUMP_VERSION, _one(tenant_id, customer_id, one_now=now))
        return new

    async def add_new_tags(
        self, tenant_id: str, changes: Sequence[tuple[str, frozenset[str]]]
    ) -> None:
        """Tags customers do not have yet (the caller read them in this transaction),
        each (customer, tags) one change: all the rows in one INSERT run, each
        customer's version up by its number of changes in one UPDATE run (in id
        order, so two transactions lock the rows in the same order)."""
        if not changes:
            return
        now = utc_now()
        rows = [
            {"customer_id": cid, "tenant_id": tenant_id, "tag": t, "created_at": now}
            for cid, tags in changes
            for t in sorted(tags)
        ]
        await _execute_rows(self._session, _ADD_TAG, rows)
        counts = Counter(cid for cid, _ in changes)
        await _execute_rows(
            self._session,
            _BUMP_VERSION_BY,
            [_one(tenant_id, cid, one_now=now, one_changes=counts[cid]) for cid in sorted(counts)],
        )

    async def remove_tags(
        self, tenant_id: str, customer_id: str, tags: frozenset[str]
    ) -> frozenset[str]:
        """Remove tags; returns the ones the customer had."""
        if not tags:
            return frozenset()
        where = [
            customer_tags.c.tenant_id == tenant_id,
            customer_tags.c.customer_id == customer_id,
            customer_tags.c.tag.in_(sorted(tags)),
        ]
        had = frozenset(
            (
                await self._session.scalars(in_the_loop(select(customer_tags.c.tag).where(*where)))
            ).all()
        )
        if had:
            await self._session.execute(in_the_loop(delete(customer_tags).where(*where)))
            await self._session.execute(
                _BUMP_VERSION, _one(tenant_id, customer_id, one_now=utc_now())
            )
        return had

    async def add_lifecycle_change(self, change: LifecycleChange) -> None:
        await self._session.execute(
            _ADD_LIFECYCLE_CHANGE,
            {
                "id": change.id,
                "tenant_id": change.tenant_id,
                "customer_id": change.customer_id,
                "from_stage": change.from_stage.value if change.from_stage else "",
                "to_stage": change.to_stage.value,
                "reason": change.reason,
                "actor": change.actor,
                "cause_event_id": change.cause_event_id,
                "created_at": change.created_at,
            },
        )

    async def lifecycle_history(
        self, tenant_id: str, customer_id: str, *, after: list[str], limit: int
    ) -> list[LifecycleChange]:
        t = lifecycle_changes
        rows = await _customer_history(self._session, t, tenant_id, customer_id, after, limit)
        return [
            LifecycleChange(
                id=r.id,
                tenant_id=r.tenant_id,
                customer_id=r.customer_id,
                from_stage=LifecycleStage(r.from_stage) if r.from_stage else None,
                to_stage=LifecycleStage(r.to_stage),
                reason=r.reason,
                actor=r.actor,
                cause_event_id=r.cause_event_id,
                created_at=as_utc(r.created_at),
            )
            for r in rows
        ]

    async def add_timeline(self, entry: TimelineEntry) -> None:
        await self._session.execute(_ADD_TIMELINE, timeline_row(entry))

    async def add_timeline_entries(self, entries: Sequence[TimelineEntry]) -> None:
        """All the entries in one INSERT run (executemany)."""
        await _execute_rows(self._session, _ADD_TIMELINE, [timeline_row(e) for e in entries])

    async def timeline(
        self,
        tenant_id: str,
        customer_id: str,
        *,
        types: list[str],
        start: datetime | None,
        end: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[TimelineEntry]:
        t = timeline
        where = [t.c.tenant_id == tenant_id, t.c.customer_id == customer_id]
        if types:
            where.append(t.c.type.in_(types))
        if start is not None:
            where.append(t.c.occurred_at >= start)
        if end is not None:
            where.append(t.c.occurred_at < end)
        if after:
            at, last_id = datetime.fromisoformat(after[0]), after[1]
            where.append(past([t.c.occurred_at, t.c.event_id], [at, last_id], descending=True))
        rows = await self._session.execute(
            select(t)
            .where(*where)
            .order_by(t.c.occurred_at.desc(), t.c.event_id.desc())
            .limit(limit)
        )
        return [
            TimelineEntry(
                event_id=r.event_id,
                tenant_id=r.tenant_id,
                customer_id=r.customer_id,
                type=r.type,
                occurred_at=as_utc(r.occurred_at),
                summary=r.summary,
                actor=r.actor,
                resource=r.resource,
                details=dict(r.details or {}),
            )
            for r in rows
        ]

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        condition: Node | None,
        after: list[str],
        limit: int,
    ) -> list[Customer]:
        cursor = (datetime.fromisoformat(after[0]), after[1]) if after else None
        if self._index is not None and condition is not None:
            ids = await self._index.page_ids(
                tenant_id, visibility, condition, after=cursor, limit=limit
            )
            if ids is not None:
                return await self._load_ids(tenant_id, ids)
        where = await self._filtered(tenant_id, visibility, condition)
        if cursor is not None:
            created, last_id = cursor
            where.append(past([customers.c.created_at, customers.c.id], [created, last_id]))
        return await self._load(tenant_id, where, limit)

    async def _filtered(
        self, tenant_id: str, visibility: Visibility, condition: Node | None
    ) -> list[ColumnElement[bool]]:
        """The tenant's customers inside the scope that match the condition."""
        where = [customers.c.tenant_id == tenant_id, _visible(visibility)]
        if condition is not None:
            definitions = {}
            if custom_field_keys(condition):
                definitions = await self._definitions(tenant_id)
            where.append(customer_filter_clause(condition, definitions))
        return where

    async def count(self, tenant_id: str, visibility: Visibility, condition: Node | None) -> int:
        if self._index is not None and condition is not None:
            counted = await self._index.count(tenant_id, visibility, condition)
            if counted is not None:
                return counted
        where = await self._filtered(tenant_id, visibility, condition)
        total = await self._session.scalar(
            select(func.count()).select_from(customers).where(*where)
        )
        return int(total or 0)

    async def ids_after(
        self,
        tenant_id: str,
        visibility: Visibility,
        condition: Node | None,
        *,
        after_id: str,
        limit: int,
    ) -> list[str]:
        """Matching customer ids in ascending order, after ``after_id``.

        Always SQL: jobs walk every match once, batch by batch, and the filter
        index would reload each batch's writes before the next one.
        """
        where = await self._filtered(tenant_id, visibility, condition)
        if after_id:
            where.append(customers.c.id > after_id)
        result = await self._session.scalars(
            select(customers.c.id).where(*where).order_by(customers.c.id).limit(limit)
        )
        return list(result.all())

    async def max_filter_conditions(self, tenant_id: str) -> int | None:
        """The tenant's own limit, if identity told us one."""
        value = await self._session.scalar(
            select(tenant_limits.c.max_filter_conditions).where(
                tenant_limits.c.tenant_id == tenant_id
            )
        )
        return None if value is None else int(value)

    async def save_max_filter_conditions(self, tenant_id: str, limit: int) -> None:
        await self._session.execute(
            delete(tenant_limits).where(tenant_limits.c.tenant_id == tenant_id)
        )
        await self._session.execute(
            insert(tenant_limits).values(
                tenant_id=tenant_id, max_filter_conditions=limit, updated_at=utc_now()
            )
        )

    async def _load(
        self, tenant_id: str, where: Sequence[ColumnElement[bool]], limit: int
    ) -> list[Customer]:
        rows = (
            await self._session.execute(
                select(customers)
                .where(*where)
                .order_by(customers.c.created_at, customers.c.id)
                .limit(limit)
            )
        ).all()
        return await self._customers(tenant_id, rows)

    async def many(self, tenant_id: str, ids: Sequence[str]) -> list[Customer]:
        """The tenant's customers with these ids (those that exist), in the order
        given: three statements however many (the events' snapshots)."""
        return await self._load_ids(tenant_id, ids) if ids else []

    async def _load_ids(self, tenant_id: str, ids: Sequence[str]) -> list[Customer]:
        """The customers with these ids, in the order given (looked up by key, not
        by walking an ordered index as ORDER BY could make the planner do)."""
        where = [customers.c.tenant_id == tenant_id, self._one_of(customers.c.id, ids)]
        rows = (
            await self._session.execute(_few_in_the_loop(select(customers).where(*where), ids))
        ).all()
        position = {cid: n for n, cid in enumerate(ids)}
        return await self._customers(
            tenant_id, sorted(rows, key=lambda r: position.get(r.id, len(position)))
        )

    async def _customers(self, tenant_id: str, rows: Sequence[Any]) -> list[Customer]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        identities: dict[str, list[ChannelIdentity]] = defaultdict(list)
        tags: dict[str, set[str]] = defaultdict(set)
        # Identities and tags in one statement (a round trip less per load):
        # tag rows have the tag in ``channel`` and are told apart by ``kind``.
        i, t = customer_identities.c, customer_tags.c
        both = (
            select(literal("i").label("kind"), i.customer_id, i.channel, i.store, i.external_id)
            .where(self._one_of(i.customer_id, ids))
            .union_all(
                select(literal("t"), t.customer_id, t.tag, literal(""), literal("")).where(
                    t.tenant_id == tenant_id, self._one_of(t.customer_id, ids)
                )
            )
        )
        for r in await self._session.execute(_few_in_the_loop(both, ids)):
            if r.kind == "t":
                tags[r.customer_id].add(r.channel)
            else:
                identities[r.customer_id].append(
                    ChannelIdentity(Channel(r.channel), r.external_id, r.store)
                )
        return [_customer(r, identities[r.id], tags[r.id]) for r in rows]

    async def mark_active(self, latest: Mapping[tuple[str, str], datetime]) -> set[tuple[str, str]]:
        """last_active_at = max(last_active_at, at) of each customer that exists:
        one read of which do, one UPDATE run for them (in key order, so two
        transactions lock the same rows in the same order). Returns those.

        Activity is not an edit of the profile: version and etag stay.
        """
        if not latest:
            return set()
        c = customers.c
        present_ones = select(c.tenant_id, c.id).where(pairs_in(c.tenant_id, c.id, latest))
        if len(latest) <= _FEW_KEYS:  # a live batch's few customers: lookups by key
            present_ones = in_the_loop(present_ones)
        present = {(r[0], r[1]) for r in await self._session.execute(present_ones)}
        marks = [
            {"tenant": tenant_id, "customer": customer_id, "at": latest[tenant_id, customer_id]}
            for tenant_id, customer_id in sorted(present)
        ]
        await _execute_rows(self._session, _MARK_ACTIVE, marks)
        return present

    # --- scores and points ----------------------------------------------------

    async def add_to_score(
        self, tenant_id: str, customer_id: str, delta: int, *, now: datetime
    ) -> bool:
        """score = score + delta in one UPDATE (no lost increments); bumps the version."""
        result = await self._session.execute(
            update(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.id == customer_id)
            .values(
                score=score_plus(delta),
                version=customers.c.version + 1,
                updated_at=now,
            )
        )
        return getattr(result, "rowcount", 0) == 1

    async def add_points(
        self, tenant_id: str, customer_id: str, points: int, *, now: datetime
    ) -> bool:
        """points_balance += points in one conditional UPDATE that never goes below 0
        nor above POINTS_LIMIT.

        False when the balance is too small, or too large (nothing changed).
        """
        where = [customers.c.tenant_id == tenant_id, customers.c.id == customer_id]
        if points < 0:
            where.append(customers.c.points_balance >= -points)
        else:
            where.append(customers.c.points_balance <= POINTS_LIMIT - points)
        result = await self._session.execute(
            update(customers)
            .where(*where)
            .values(
                points_balance=customers.c.points_balance + points,
                version=customers.c.version + 1,
                updated_at=now,
            )
        )
        return getattr(result, "rowcount", 0) == 1

    async def add_score_change(self, change: ScoreChange) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(score_changes).values(
                        id=change.id,
                        tenant_id=change.tenant_id,
                        customer_id=change.customer_id,
                        delta=change.delta,
                        score=change.score,
                        reason=change.reason,
                        source=change.source,
                        cause_event_id=change.cause_event_id,
                        request_id=change.request_id or None,
                        created_at=change.created_at,
                    )
                )
        except IntegrityError as exc:
            raise RequestReplayed(change.request_id) from exc

    async def score_change_for_request(
        self, tenant_id: str, customer_id: str, request_id: str
    ) -> ScoreChange | None:
        t = score_changes
        row = await _row_for_request(self._session, t, tenant_id, customer_id, request_id)
        return None if row is None else _score_change(row)

    async def score_history(
        self, tenant_id: str, customer_id: str, *, after: list[str], limit: int
    ) -> list[ScoreChange]:
        t = score_changes
        rows = await _customer_history(self._session, t, tenant_id, customer_id, after, limit)
        return [_score_change(r) for r in rows]

    async def add_points_entry(self, entry: PointsEntry) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(points_entries).values(
                        id=entry.id,
                        tenant_id=entry.tenant_id,
                        customer_id=entry.customer_id,
                        kind=entry.kind.value,
                        points=entry.points,
                        balance=entry.balance,
                        reason=entry.reason,
                        order_name=entry.order,
                        expire_time=entry.expire_time,
                        actor=entry.actor,
                        request_id=entry.request_id or None,
                        created_at=entry.created_at,
                    )
                )
        except IntegrityError as exc:
            raise RequestReplayed(entry.request_id) from exc

    async def points_entry_for_request(
        self, tenant_id: str, customer_id: str, request_id: str
    ) -> PointsEntry | None:
        t = points_entries
        row = await _row_for_request(self._session, t, tenant_id, customer_id, request_id)
        return None if row is None else _points_entry(row)

    async def points_ledger(
        self, tenant_id: str, customer_id: str, *, after: list[str], limit: int
    ) -> list[PointsEntry]:
        t = points_entries
        rows = await _customer_history(self._session, t, tenant_id, customer_id, after, limit)
        return [_points_entry(r) for r in rows]

    # --- orders -----------------------------------------------------------------

    async def lock(self, tenant_id: str, customer_id: str, *, now: datetime) -> bool:
        """Bumps the version: the row stays locked to this transaction until it ends."""
        result = await self._session.execute(
            update(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.id == customer_id)
            .values(version=customers.c.version + 1, updated_at=now)
        )
        return getattr(result, "rowcount", 0) == 1

    async def add_order(self, order: Order) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(orders).values(
                        id=order.id,
                        tenant_id=order.tenant_id,
                        customer_id=order.customer_id,
                        external_id=order.external_id,
                        store=order.store,
                        currency=order.amount.currency,
                        amount_units=order.amount.units,
                        amount_nanos=order.amount.nanos,
                        item_count=order.item_count,
                        order_time=order.order_time,
                        created_at=order.created_at,
                    )
                )
        except IntegrityError as exc:
            raise OrderTaken(order.external_id) from exc

    async def save_order_totals(
        self, tenant_id: str, customer_id: str, totals: OrderTotals
    ) -> None:
        value = totals.order_value
        await self._session.execute(
            update(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.id == customer_id)
            .values(
                order_count=totals.order_count,
                order_currency=value.currency if value else "",
                order_value_units=value.units if value else 0,
                order_value_nanos=value.nanos if value else 0,
                last_order_time=totals.last_order_time,
            )
        )

    async def orders(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        customer_id: str,
        start: datetime | None,
        end: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[Order]:
        """Newest order_time first; all visible customers' orders when customer_id is empty."""
        t = orders
        where: list[ColumnElement[bool]] = [t.c.tenant_id == tenant_id]
        if customer_id:
            where.append(t.c.customer_id == customer_id)
        query = select(t).join(customers, customers.c.id == t.c.customer_id)
        where.append(_visible(visibility))
        if start is not None:
            where.append(t.c.order_time >= start)
        if end is not None:
            where.append(t.c.order_time < end)
        if after:
            at, last_id = datetime.fromisoformat(after[0]), after[1]
            where.append(past([t.c.order_time, t.c.id], [at, last_id], descending=True))
        rows = await self._session.execute(
            query.where(*where).order_by(t.c.order_time.desc(), t.c.id.desc()).limit(limit)
        )
        return [_order(r) for r in rows]

    async def order_by_external_id(
        self, tenant_id: str, store: str, external_id: str
    ) -> Order | None:
        row = (
            await self._session.execute(
                select(orders).where(
                    orders.c.tenant_id == tenant_id,
                    orders.c.store == store,
                    orders.c.external_id == external_id,
                )
            )
        ).first()
        return None if row is None else _order(row)


def _order(r: Any) -> Order:
    return Order(
        id=r.id,
        tenant_id=r.tenant_id,
        customer_id=r.customer_id,
        external_id=r.external_id,
        store=r.store,
        amount=Money(r.currency, int(r.amount_units), int(r.amount_nanos)),
        item_count=int(r.item_count),
        order_time=as_utc(r.order_time),
        created_at=as_utc(r.created_at),
    )


def _score_change(r: Any) -> ScoreChange:
    return ScoreChange(
        id=r.id,
        tenant_id=r.tenant_id,
        customer_id=r.customer_id,
        delta=int(r.delta),
        score=int(r.score),
        reason=r.reason,
        source=r.source,
        cause_event_id=r.cause_event_id,
        request_id=r.request_id or "",
        created_at=as_utc(r.created_at),
    )


def _points_entry(r: Any) -> PointsEntry:
    return PointsEntry(
        id=r.id,
        tenant_id=r.tenant_id,
        customer_id=r.customer_id,
        kind=PointsKind(r.kind),
        points=int(r.points),
        balance=int(r.balance),
        reason=r.reason,
        order=r.order_name,
        expire_time=as_utc(r.expire_time) if r.expire_time else None,
        actor=r.actor,
        request_id=r.request_id or "",
        created_at=as_utc(r.created_at),
    )


def _row(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "tenant_id": customer.tenant_id,
        "display_name": customer.display_name,
        "emails": list(customer.emails),
        "phones": list(customer.phones),
        "country": customer.country,
        "language": customer.language,
        "score": customer.score,
        "owner_member_id": customer.owner_member_id,
        "department_id": customer.department_id,
        "version": customer.version,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        "lifecycle_stage": customer.lifecycle_stage.value if customer.lifecycle_stage else "",
        "blacklisted": customer.blacklisted,
        "blacklist_reason": customer.blacklist_reason,
        "blacklist_time": customer.blacklist_time,
        "points_balance": customer.points_balance,
        "custom_fields": dict(customer.custom_fields),
        "time_zone": customer.time_zone,
        "tier_id": customer.tier_id,
        "last_active_at": customer.last_active_at,
    }


_ACTIVE_AT = bindparam("at", type_=customers.c.last_active_at.type)
# last_active_at = max(last_active_at, :at) of one customer, run with many (executemany).
_MARK_ACTIVE = in_the_loop(
    update(customers)
    .where(
        customers.c.tenant_id == bindparam("tenant"),
        customers.c.id == bindparam("customer"),
        or_(customers.c.last_active_at.is_(None), customers.c.last_active_at < _ACTIVE_AT),
    )
    .values(last_active_at=_ACTIVE_AT)
)


def timeline_row(entry: TimelineEntry) -> dict[str, Any]:
    """The customer_timeline row of an entry (the summary cut to the column's 500)."""
    return {
        "event_id": entry.event_id,
        "tenant_id": entry.tenant_id,
        "customer_id": entry.customer_id,
        "type": entry.type,
        "occurred_at": entry.occurred_at,
        "summary": entry.summary[:500],
        "actor": entry.actor,
        "resource": entry.resource,
        "details": entry.details,
    }


def customer_of_one_customer_row(row: Any) -> Customer:
    """The customer of a row of ``one_customer_sql.one_customer``."""
    identities = [
        ChannelIdentity(Channel(channel), external_id, store)
        for channel, store, external_id in row.identities_json
    ]
    return _customer(row, identities, {tag for (tag,) in row.tags_json})


def _customer(r: Any, identities: list[ChannelIdentity], tags: set[str]) -> Customer:
    """A customer from its row, identities and tags."""
    return Customer(
        id=r.id,
        tenant_id=r.tenant_id,
        display_name=r.display_name,
        emails=tuple(r.emails),
        phones=tuple(r.phones),
        country=r.country,
        language=r.language,
        identities=tuple(
            sorted(identities, key=lambda i: (i.channel.value, i.store, i.external_id))
        ),
        tags=frozenset(tags),
        score=r.score,
        owner_member_id=r.owner_member_id,
        department_id=r.department_id,
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        version=r.version,
        lifecycle_stage=LifecycleStage(r.lifecycle_stage) if r.lifecycle_stage else None,
        blacklisted=bool(r.blacklisted),
        blacklist_reason=r.blacklist_reason,
        blacklist_time=as_utc(r.blacklist_time) if r.blacklist_time else None,
        points_balance=int(r.points_balance),
        order_totals=OrderTotals(
            order_count=int(r.order_count),
            order_value=Money(r.order_currency, int(r.order_value_units), int(r.order_value_nanos))
            if r.order_currency
            else None,
            last_order_time=as_utc(r.last_order_time) if r.last_order_time else None,
        ),
        custom_fields=dict(r.custom_fields or {}),
        time_zone=r.time_zone,
        tier_id=r.tier_id,
        last_active_at=as_utc(r.last_active_at) if r.last_active_at else None,
    )
