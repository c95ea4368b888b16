"""Reporting's measures and projections in SQL, always filtered by tenant."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.db.keyset import past
from crosstalk_common.db.scope import scope_clause
from crosstalk_common.visibility import Visibility
from reporting.adapters import projection_json
from reporting.adapters.tables import (
    case_facts,
    conversation_facts,
    customer_facts,
    measure_buckets,
    measure_facts,
    measure_hours,
)
from reporting.app.ports import FactRow
from reporting.domain import histogram
from reporting.domain.catalogue import METRICS, ROW_DIMENSIONS, Dimension, Measure
from reporting.domain.folding import Keys, Observation, Projections
from reporting.domain.querying import BucketRow, Groups, HourRow, RowSpec

# Measures some metric splits or filters by tag: only these get fan-out rows.
_BY_TAG = frozenset(m.measure for m in METRICS if Dimension.TAG in m.dimensions) | frozenset(
    m.denominator for m in METRICS if Dimension.TAG in m.dimensions and m.denominator
)


_DIM_NAMES = tuple(d.value for d in ROW_DIMENSIONS)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _adding(insert: Any, table: Any, keys: Sequence[str], added: Sequence[str]) -> Any:
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={name: table.c[name] + stmt.excluded[name] for name in added},
    )


def _replacing(insert: Any, table: Any) -> Any:
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.tenant_id, table.c.subject], set_={"facts": stmt.excluded.facts}
    )


_HOUR_KEY = ("tenant_id", "measure", "hour", "dims_key")
_ADD_HOURS = {
    "postgresql": _adding(postgresql.insert, measure_hours, _HOUR_KEY, ("count", "total")),
    "sqlite": _adding(sqlite.insert, measure_hours, _HOUR_KEY, ("count", "total")),
}
_ADD_BUCKETS = {
    "postgresql": _adding(postgresql.insert, measure_buckets, (*_HOUR_KEY, "bucket"), ("count",)),
    "sqlite": _adding(sqlite.insert, measure_buckets, (*_HOUR_KEY, "bucket"), ("count",)),
}
_PROJECTION_TABLES = (customer_facts, conversation_facts, case_facts)
_REPLACE = {
    t.name: {"postgresql": _replacing(postgresql.insert, t), "sqlite": _replacing(sqlite.insert, t)}
    for t in _PROJECTION_TABLES
}


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class _Hours(dict[Any, datetime]):
    """Each stored hour read as UTC once per query (rows of many groups share it)."""

    def __missing__(self, raw: Any) -> datetime:
        value = self[raw] = _utc(raw)
        return value


def _row_shapes(
    dims: tuple[tuple[str, str], ...], tags: tuple[str, ...]
) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """The rows one observation adds to: (kind, tag, dimensions)."""
    shapes: list[tuple[str, str, tuple[tuple[str, str], ...]]] = [("full", "", dims)]
    shapes += [("full", tag, dims) for tag in tags]
    shapes.append(("all", "", ()))
    shapes += [(name, "", ((name, value),)) for name, value in dims]
    shapes += [("tag", tag, ()) for tag in tags]
    return shapes


def _dims_key(kind: str, owner: str, dims: tuple[tuple[str, str], ...], tag: str) -> str:
    raw = "\x1f".join([kind, owner, tag, *(f"{k}={v}" for k, v in dims)])
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


def _department_id(dims: dict[str, str]) -> str:
    return dims.get(Dimension.DEPARTMENT.value, "").removeprefix("departments/")


def _column(table: Any, dimension: Dimension) -> Any:
    return (
        table.c.tag
        if dimension is Dimension.TAG and table is measure_hours
        else table.c[dimension.value]
    )


class SqlMeasureStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, observations: Sequence[Observation]) -> None:
        if not observations:
            return
        hours: dict[tuple[str, str, datetime, str], dict[str, Any]] = {}
        buckets: dict[tuple[str, str, datetime, str, int], int] = {}
        facts: list[dict[str, Any]] = []
        seq: dict[str, int] = {}
        for o in observations:
            hour = o.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            dims = dict(o.dims)
            dim_values = [dims.get(name, "") for name in _DIM_NAMES]
            department_id = _department_id(dims)
            by_tag = bool(o.tags) and o.measure in _BY_TAG
            measure = o.measure.value
            for kind, tag, row_dims in _row_shapes(o.dims, o.tags if by_tag else ()):
                key = _dims_key(kind, o.owner, row_dims, tag)
                row_key = (o.tenant_id, measure, hour, key)
                row = hours.get(row_key)
                if row is None:
                    shown = dict(row_dims)
                    row = hours[row_key] = {
                        "tenant_id": o.tenant_id,
                        "measure": measure,
                        "hour": hour,
                        "dims_key": key,
                        "kind": kind,
                        "owner_member_id": o.owner,
                        "department_id": department_id,
                        "tag": tag,
                        **{name: shown.get(name, "") for name in _DIM_NAMES},
                        "count": 0,
                        "total": 0.0,
                    }
                row["count"] += o.count
                row["total"] += o.value * o.count if not o.measured else o.value
                if o.measured:
                    bucket_key = (*row_key, histogram.bucket_of(o.value))
                    buckets[bucket_key] = buckets.get(bucket_key, 0) + 1
            n = seq.get(o.event_id, 0)
            seq[o.event_id] = n + 1
            fact = dict(zip(_DIM_NAMES, dim_values, strict=True))
            fact.update(
                tenant_id=o.tenant_id,
                event_id=o.event_id,
                seq=n,
                measure=measure,
                at=o.at.astimezone(UTC),
                subject=o.subject[:200],
                customer=o.customer[:100],
                count=o.count,
                value=o.value,
                owner_member_id=o.owner,
                department_id=department_id,
                tags=list(o.tags),
            )
            facts.append(fact)
        dialect = _dialect(self._session)
        await self._session.execute(
            _ADD_HOURS[dialect], [hours[k] for k in sorted(hours, key=_sortable)]
        )
        if buckets:
            await self._session.execute(
                _ADD_BUCKETS[dialect],
                [
                    {
                        **{c: v for c, v in hours[k[:4]].items() if c not in ("count", "total")},
                        "bucket": k[4],
                        "count": n,
                    }
                    for k, n in sorted(buckets.items(), key=lambda kv: _sortable(kv[0]))
                ],
            )
        # A replayed batch (the inbox let it through once already) finds its
        # drill-down rows there: they are kept, not doubled.
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self._session.execute(insert(measure_facts).on_conflict_do_nothing(), facts)

    def _where(
        self,
        table: Any,
        tenant_id: str,
        visibility: Visibility,
        measure: Measure,
        filters: Sequence[tuple[Dimension, tuple[str, ...]]],
        by_tag: bool,
        kind: str = "",
    ) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [
            table.c.tenant_id == tenant_id,
            table.c.measure == measure.value,
            scope_clause(
                visibility, owner=table.c.owner_member_id, department=table.c.department_id
            ),
        ]
        if table is not measure_facts:
            clauses.append(table.c.kind == kind)
            if kind == "full":
                clauses.append(table.c.tag != "" if by_tag else table.c.tag == "")
        for dimension, values in filters:
            if dimension is Dimension.TAG and table is measure_facts:
                text = cast(table.c.tags, String)
                clauses.append(or_(*[text.like(f'%"{_escaped(v)}"%', escape="\\") for v in values]))
            else:
                clauses.append(_column(table, dimension).in_(list(values)))
        return clauses

    async def hours(self, tenant_id: str, visibility: Visibility, spec: RowSpec) -> list[HourRow]:
        groups = [_column(measure_hours, d) for d in spec.group_bys]
        where = self._where(
            measure_hours, tenant_id, visibility, spec.measure, spec.filters, spec.by_tag, spec.kind
        )
        result = await self._session.execute(
            select(
                measure_hours.c.hour,
                *groups,
                func.sum(measure_hours.c.count),
                func.sum(measure_hours.c.total),
            )
            .where(*where, measure_hours.c.hour >= spec.start, measure_hours.c.hour < spec.end)
            .group_by(measure_hours.c.hour, *groups)
        )
        n = len(groups)
        utc = _Hours()
        return [
            HourRow(utc[r[0]], tuple(map(str, r[1 : 1 + n])), int(r[1 + n]), float(r[2 + n]))
            for r in result
        ]

    async def buckets(
        self, tenant_id: str, visibility: Visibility, spec: RowSpec
    ) -> list[BucketRow]:
        b = measure_buckets
        groups = [_column(b, d) for d in spec.group_bys]
        where = self._where(
            b, tenant_id, visibility, spec.measure, spec.filters, spec.by_tag, spec.kind
        )
        result = await self._session.execute(
            select(b.c.hour, *groups, b.c.bucket, func.sum(b.c.count))
            .where(*where, b.c.hour >= spec.start, b.c.hour < spec.end)
            .group_by(b.c.hour, *groups, b.c.bucket)
        )
        n = len(groups)
        utc = _Hours()
        return [
            BucketRow(utc[r[0]], tuple(map(str, r[1 : 1 + n])), int(r[1 + n]), int(r[2 + n]))
            for r in result
        ]

    async def level_before(
        self, tenant_id: str, visibility: Visibility, spec: RowSpec
    ) -> dict[Groups, int]:
        groups = [_column(measure_hours, d) for d in spec.group_bys]
        where = self._where(
            measure_hours, tenant_id, visibility, spec.measure, spec.filters, spec.by_tag, spec.kind
        )
        result = await self._session.execute(
            select(*groups, func.sum(measure_hours.c.count))
            .where(*where, measure_hours.c.hour < spec.start)
            .group_by(*groups)
        )
        n = len(groups)
        return {tuple(str(v) for v in r[:n]): int(r[n]) for r in result if r[n]}

    async def facts(
        self,
        tenant_id: str,
        visibility: Visibility,
        measure: Measure,
        start: datetime,
        end: datetime,
        filters: Sequence[tuple[Dimension, tuple[str, ...]]],
        after: tuple[datetime, str, int] | None,
        limit: int,
    ) -> list[FactRow]:
        f = measure_facts
        order = [f.c.at, f.c.event_id, f.c.seq]
        where = self._where(f, tenant_id, visibility, measure, filters, False)
        stmt = select(f).where(*where, f.c.at >= start, f.c.at < end)
        if after is not None:
            stmt = stmt.where(past(order, list(after), descending=True))
        result = await self._session.execute(stmt.order_by(*(c.desc() for c in order)).limit(limit))
        rows = []
        for r in result.mappings():
            dimensions = {name: str(r[name]) for name in _DIM_NAMES if r[name]}
            for i, tag in enumerate(r["tags"] or []):
                dimensions[f"tag.{i}"] = str(tag)
            rows.append(
                FactRow(
                    at=_utc(r["at"]),
                    event_id=r["event_id"],
                    seq=int(r["seq"]),
                    subject=r["subject"],
                    customer=r["customer"],
                    value=float(r["value"]),
                    count=int(r["count"]),
                    dimensions=dimensions,
                )
            )
        return rows

    async def clear(self) -> None:
        for table in (measure_hours, measure_buckets, measure_facts, *_PROJECTION_TABLES):
            await self._session.execute(delete(table))


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _sortable(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(k.isoformat() if isinstance(k, datetime) else k for k in key)


class SqlProjectionStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _read(self, table: Any, keys: frozenset[tuple[str, str]]) -> dict[Any, Any]:
        if not keys:
            return {}
        result = await self._session.execute(
            select(table.c.tenant_id, table.c.subject, table.c.facts).where(
                tuple_(table.c.tenant_id, table.c.subject).in_(sorted(keys))
            )
        )
        return {(r[0], r[1]): r[2] for r in result}

    async def load(self, keys: Keys) -> Projections:
        customers = await self._read(customer_facts, keys.customers)
        conversations = await self._read(conversation_facts, keys.conversations)
        cases = await self._read(case_facts, keys.cases)
        return Projections(
            customers={k: projection_json.customer_from(v) for k, v in customers.items()},
            conversations={
                k: projection_json.conversation_from(v) for k, v in conversations.items()
            },
            cases={k: projection_json.case_from(v) for k, v in cases.items()},
        )

    async def save(self, projections: Projections) -> None:
        dialect = _dialect(self._session)
        writes = (
            (customer_facts, projections.customers, projections.changed_customers),
            (conversation_facts, projections.conversations, projections.changed_conversations),
            (case_facts, projections.cases, projections.changed_cases),
        )
        for table, facts, changed in writes:
            if not changed:
                continue
            rows = [
                {"tenant_id": k[0], "subject": k[1], "facts": projection_json.to_json(facts[k])}
                for k in sorted(changed)
                if k in facts
            ]
            if rows:
                await self._session.execute(_REPLACE[table.name][dialect], rows)
