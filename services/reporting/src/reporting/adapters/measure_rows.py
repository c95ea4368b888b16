"""A batch of observations as the rows it adds to, each row once (pure Python).

Every observation is added to the rows of the kinds its measure needs
(``domain.row_kinds``); rows of one batch with the same key are added up here,
so each is written once per batch. Rows come out as tuples in the column
order of the statements that write them, sorted by key (concurrent writers
take row locks in the same order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reporting.domain import histogram
from reporting.domain.catalogue import ROW_DIMENSIONS, Dimension
from reporting.domain.folding import Observation
from reporting.domain.querying import stored_day
from reporting.domain.row_kinds import ROW_KINDS

DIM_NAMES = tuple(d.value for d in ROW_DIMENSIONS)
_SCOPE = ("kind", "owner_member_id", "department_id", "tag", *DIM_NAMES)
# A row's identity (dims_key decides the kind; the tables' keys also hold the
# kind, before the hour, and are what an upsert names: *_CONFLICT).
HOUR_KEY = ("tenant_id", "measure", "hour", "dims_key")
HOUR_COLUMNS = (*HOUR_KEY, *_SCOPE, "count", "total")
HOUR_CONFLICT = ("tenant_id", "measure", "kind", "hour", "dims_key")
BUCKET_KEY = (*HOUR_KEY, "bucket")
BUCKET_COLUMNS = (*BUCKET_KEY, *_SCOPE, "count")
BUCKET_CONFLICT = (*HOUR_CONFLICT, "bucket")
DAY_KEY = ("tenant_id", "measure", "shift", "day", "dims_key")
DAY_COLUMNS = (*DAY_KEY, *_SCOPE, "count", "total")
DAY_CONFLICT = ("tenant_id", "measure", "kind", "shift", "day", "dims_key")
DAY_BUCKET_COLUMNS = (*DAY_KEY, "bucket", *_SCOPE, "count")
DAY_BUCKET_CONFLICT = (*DAY_CONFLICT, "bucket")
FACT_KEY = ("tenant_id", "event_id", "seq")
FACT_COLUMNS = (
    *FACT_KEY,
    *("measure", "at", "subject", "customer", "count", "value", "owner_member_id"),
    *("department_id", "tags", *DIM_NAMES),
)

_POSITION = {name: i for i, name in enumerate(DIM_NAMES)}
_BLANK = ("",) * len(DIM_NAMES)
_DEPARTMENT = Dimension.DEPARTMENT.value

Dims = tuple[tuple[str, str], ...]


def _values(dims: Dims) -> tuple[str, ...]:
    """Every row dimension's value in column order ("" where not set)."""
    if not dims:
        return _BLANK
    values = list(_BLANK)
    for name, value in dims:
        values[_POSITION[name]] = value
    return tuple(values)


def _department_id(dims: Dims) -> str:
    for name, value in dims:
        if name == _DEPARTMENT:
            return value.removeprefix("departments/")
    return ""


def _dims_key(kind: str, owner: str, department_id: str, dims: Dims, tag: str) -> str:
    raw = "\x1f".join([kind, owner, department_id, tag, *(f"{k}={v}" for k, v in dims)])
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


@dataclass
class MeasureRows:
    hours: list[tuple[Any, ...]]
    buckets: list[tuple[Any, ...]]
    facts: list[tuple[Any, ...]]


def _shapes(o: Observation, department_id: str) -> list[tuple[str, str, str, str, Dims]]:
    """The rows (kind, owner, department, tag, dimensions) ``o`` adds to."""
    kinds = ROW_KINDS[o.measure]
    owner = o.owner
    out = []
    if kinds.full or (kinds.full_tagged and o.tags):
        full = kinds.full_dims(o.dims)
        if kinds.full:
            out.append(("full", owner, department_id, "", full))
        if kinds.full_tagged:
            out += [("full", owner, department_id, tag, full) for tag in o.tags]
    if kinds.all:
        out.append(("all", owner, department_id, "", ()))
    out += [
        (name, owner, department_id, "", ((name, value),))
        for name, value in o.dims
        if name in kinds.dimensions
    ]
    if kinds.tag:
        out += [("tag", owner, department_id, tag, ()) for tag in o.tags]
    return out


@dataclass(frozen=True)
class _Rows:
    """What every observation of one measure, owner, dimensions and tags adds to."""

    department_id: str
    values: tuple[str, ...]  # the row dimensions in column order (drill-down rows)
    shapes: tuple[tuple[str, tuple[Any, ...]], ...]  # (dims key, scope columns) per row


def _rows_of(o: Observation) -> _Rows:
    department_id = _department_id(o.dims)
    return _Rows(
        department_id,
        _values(o.dims),
        tuple(
            (
                _dims_key(kind, owner, department, dims, tag),
                (kind, owner, department, tag, *_values(dims)),
            )
            for kind, owner, department, tag, dims in _shapes(o, department_id)
        ),
    )


class _Known(dict[tuple[Any, ...], _Rows]):
    """Rows worked out per (measure, owner, dimensions, tags): a conversation's
    observations share them, so most are found here, across batches too."""

    LIMIT = 50_000

    def of(self, o: Observation) -> _Rows:
        key = (o.measure, o.owner, o.dims, o.tags)
        found = self.get(key)
        if found is None:
            if len(self) >= self.LIMIT:
                self.clear()
            found = self[key] = _rows_of(o)
        return found


_KNOWN = _Known()


def measure_rows(observations: Sequence[Observation]) -> MeasureRows:
    # Counts and sums in dicts of plain numbers, rows made once at the end: a
    # mutable row per key made the garbage collector scan far more objects.
    scopes: dict[tuple[str, str, datetime, str], tuple[Any, ...]] = {}
    counts: dict[tuple[str, str, datetime, str], int] = {}
    totals: dict[tuple[str, str, datetime, str], float] = {}
    buckets: dict[tuple[str, str, datetime, str, int], int] = {}
    facts: list[tuple[Any, ...]] = []
    seq: dict[str, int] = {}
    for o in observations:
        rows = _KNOWN.of(o)
        at = o.at.astimezone(UTC)
        hour = at.replace(minute=0, second=0, microsecond=0)
        measure = o.measure.value
        added = o.value if o.measured else o.value * o.count
        bucket = histogram.bucket_of(o.value) if o.measured else -1
        for dims_key, scope in rows.shapes:
            key = (o.tenant_id, measure, hour, dims_key)
            if key in counts:
                counts[key] += o.count
                totals[key] += added
            else:
                scopes[key] = scope
                counts[key] = o.count
                totals[key] = added
            if bucket >= 0:
                bucket_key = (*key, bucket)
                buckets[bucket_key] = buckets.get(bucket_key, 0) + 1
        n = seq.get(o.event_id, 0)
        seq[o.event_id] = n + 1
        facts.append(
            (
                o.tenant_id,
                o.event_id,
                n,
                measure,
                at,
                o.subject[:200],
                o.customer[:100],
                o.count,
                o.value,
                o.owner,
                rows.department_id,
                list(o.tags),
                *rows.values,
            )
        )
    return MeasureRows(
        hours=[(*k, *scopes[k], counts[k], totals[k]) for k in sorted(counts)],
        buckets=[(*k, *scopes[k[:4]], n) for k, n in sorted(buckets.items())],
        facts=facts,
    )


def day_rows(
    rows: MeasureRows, shifts: frozenset[int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The hour and histogram rows of a batch added up per day of each shift
    (``DAY_COLUMNS``, ``DAY_BUCKET_COLUMNS``; ``domain.querying.stored_day``),
    sorted by key."""
    if not shifts:
        return [], []
    ordered = sorted(shifts)
    width = len(_SCOPE)
    days: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows.hours:
        tenant, measure, hour, dims_key = row[:4]
        epoch = int(hour.timestamp())
        for shift in ordered:
            key = (tenant, measure, shift, stored_day(epoch, shift), dims_key)
            found = days.get(key)
            if found is None:
                days[key] = [*row[4 : 4 + width], row[-2], row[-1]]
            else:
                found[-2] += row[-2]
                found[-1] += row[-1]
    buckets: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows.buckets:
        tenant, measure, hour, dims_key, bucket = row[:5]
        epoch = int(hour.timestamp())
        for shift in ordered:
            bucket_key = (tenant, measure, shift, stored_day(epoch, shift), dims_key, bucket)
            found = buckets.get(bucket_key)
            if found is None:
                buckets[bucket_key] = [*row[5 : 5 + width], row[-1]]
            else:
                found[-1] += row[-1]
    return (
        [(*k, *days[k]) for k in sorted(days)],
        [(*k[:5], k[5], *buckets[k]) for k in sorted(buckets)],
    )


def split_settled(
    rows: Sequence[tuple[Any, ...]], settled: Mapping[int, int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Day rows (``day_rows``) of settled days, and of days still open: a row
    is settled when its day is at most its shift's ``settled`` day."""
    shift_at, day_at = DAY_KEY.index("shift"), DAY_KEY.index("day")
    done: list[tuple[Any, ...]] = []
    still_open: list[tuple[Any, ...]] = []
    for row in rows:
        (done if row[day_at] <= settled[row[shift_at]] else still_open).append(row)
    return done, still_open
