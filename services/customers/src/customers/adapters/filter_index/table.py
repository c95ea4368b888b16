"""One tenant's customers as columns, in (create_time, id) order, patched in place.

Slots follow the order of the customers' pages. A new customer is appended
when it sorts after the last one (it almost always does: ``create_time`` is
the time of creation); one that would sort earlier marks the table
``out_of_order`` and the index rebuilds it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from customers.adapters.filter_index.columns import (
    MISSING_TIME,
    Column,
    Flags,
    JsonLists,
    JsonWords,
    Numbers,
    Sets,
    Texts,
    Times,
    Words,
    grown,
)
from customers.adapters.filter_index.loading import TIME_FIELDS, Loaded
from customers.domain.filter_fields import CUSTOM_FIELD_PREFIX
from customers.domain.model import CustomFieldDefinition, CustomFieldType

_WORDS = ("country", "language", "time_zone", "lifecycle_stage", "tier", "owner", "department")
_INTEGERS = ("score", "points_balance", "order_count")
_EPOCH_DAY = date(1970, 1, 1)


def order_value(currency: str, units: int, nanos: int) -> float | None:
    """As the SQL computes it: units + nanos / 1e9 in floating point, none without currency."""
    return float(units) + float(nanos) / 1e9 if currency else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def date_days(value: Any) -> int | None:
    """A date custom field ("YYYY-MM-DD") as days since 1970-01-01."""
    try:
        return (date.fromisoformat(str(value)[:10]) - _EPOCH_DAY).days
    except ValueError:
        return None


def _custom_values(kind: CustomFieldType, raw: list[Any]) -> list[Any]:
    """A custom field's values as SQL extracted them (see loading.custom_field_value)."""
    if kind is CustomFieldType.NUMBER:
        return [_number(v) for v in raw]
    if kind is CustomFieldType.DATE:
        return [None if v is None else date_days(v) for v in raw]
    if kind is CustomFieldType.BOOLEAN:
        return [None if v is None else bool(v) for v in raw]
    return [None if v is None else str(v) for v in raw]


def _custom_column(kind: CustomFieldType) -> Column:
    if kind is CustomFieldType.NUMBER:
        return Numbers([], integer=False)
    if kind is CustomFieldType.DATE:
        return Times([])
    if kind is CustomFieldType.BOOLEAN:
        return Flags([])
    if kind is CustomFieldType.MULTI_SELECT:
        return JsonWords([])
    if kind is CustomFieldType.SINGLE_SELECT:
        return Words([])
    return Texts([])


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for cid, value in pairs:
        grouped.setdefault(cid, set()).add(value)
    return grouped


SET_FIELDS = ("tags", "channel", "store")


class CustomerTable:
    """Columns keyed by filter field name, plus ids, order and liveness.

    Built empty, then ``extend``-ed with customers and ``add_pairs``-ed with
    their tags and identities; kept current with ``apply``.
    """

    def __init__(self, definitions: Mapping[str, CustomFieldDefinition]) -> None:
        self.definitions = dict(definitions)
        self.size = 0
        self.ids = np.empty(0, dtype=object)
        self.slot_of: dict[str, int] = {}
        self.alive = np.zeros(0, dtype=np.bool_)
        self.out_of_order = False
        self.columns: dict[str, Column] = {name: Words([]) for name in _WORDS}
        for name in _INTEGERS:
            self.columns[name] = Numbers([], integer=True)
        self.columns["order_value"] = Numbers([], integer=False)
        self.columns["display_name"] = Texts([])
        self.columns["emails"] = JsonLists([])
        self.columns["phones"] = JsonLists([])
        self.columns["blacklisted"] = Flags([])
        for name in TIME_FIELDS:
            self.columns[name] = Times([])
        for name in SET_FIELDS:
            self.columns[name] = Sets(0)
        for key, definition in self.definitions.items():
            kind = definition.type or CustomFieldType.TEXT
            self.columns[CUSTOM_FIELD_PREFIX + key] = _custom_column(kind)

    @property
    def created(self) -> npt.NDArray[np.int64]:
        column = self.columns["create_time"]
        assert isinstance(column, Times)
        return column.values

    def _field_values(self, loaded: Loaded) -> dict[str, list[Any]]:
        """Every non-set field's values for the loaded customers, in their order."""
        col = loaded.columns
        values: dict[str, list[Any]] = {name: col[name] for name in (*_WORDS, *_INTEGERS)}
        values["display_name"] = col["display_name"]
        values["emails"] = col["emails"]
        values["phones"] = col["phones"]
        values["blacklisted"] = [bool(v) for v in col["blacklisted"]]
        values["order_value"] = [
            order_value(cur, int(units), int(nanos))
            for cur, units, nanos in zip(
                col["order_currency"],
                col["order_value_units"],
                col["order_value_nanos"],
                strict=True,
            )
        ]
        for key, definition in self.definitions.items():
            kind = definition.type or CustomFieldType.TEXT
            name = CUSTOM_FIELD_PREFIX + key
            values[name] = _custom_values(kind, col[name])
        for name in TIME_FIELDS:
            values[name] = [None if t == MISSING_TIME else int(t) for t in loaded.micros(name)]
        return values

    # --- building ------------------------------------------------------------------------

    def extend(self, loaded: Loaded) -> None:
        """Take customers' values; their tags and identities come by ``add_pairs``."""
        self._write(loaded, with_sets=False)

    def add_pairs(self, name: str, pairs: list[tuple[str, str]]) -> None:
        """Set members while building: (customer id, value) of tags, channels or stores."""
        column = self.columns[name]
        assert isinstance(column, Sets)
        by_value: dict[str, list[int]] = {}
        for cid, value in pairs:
            slot = self.slot_of.get(cid)
            if slot is not None:
                by_value.setdefault(value, []).append(slot)
        for value, slots in by_value.items():
            column.add_all(value, np.array(slots, dtype=np.intp))

    def finish(self) -> None:
        """After building: set sizes from the bitmaps, and (create_time, id) order."""
        for name in SET_FIELDS:
            column = self.columns[name]
            assert isinstance(column, Sets)
            column.recount(self.size)
        if self.out_of_order:
            self.reorder()

    # --- patching ------------------------------------------------------------------------

    def apply(self, loaded: Loaded, gone: set[str]) -> None:
        """Take the changed customers' current values; ``gone`` were deleted."""
        for cid in gone:
            slot = self.slot_of.get(cid)
            if slot is not None:
                self.alive[slot] = False
        if loaded.ids:
            self._write(loaded, with_sets=True)
        if self.out_of_order:
            self.reorder()

    def _write(self, loaded: Loaded, *, with_sets: bool) -> None:
        values = self._field_values(loaded)
        if with_sets:
            for name, pairs in zip(
                SET_FIELDS, (loaded.tags, loaded.channels, loaded.stores), strict=True
            ):
                grouped = _grouped(pairs)
                values[name] = [grouped.get(cid, set()) for cid in loaded.ids]
        created = values["create_time"]
        if not any(cid in self.slot_of for cid in loaded.ids):
            slots = self._append_all(loaded.ids, created)
        else:
            slots = self._slots(loaded.ids, created)
        self.alive[slots] = True
        for name, column in self.columns.items():
            if name in values:
                column.set_many(slots, values[name])

    def _append_all(self, ids: list[str], created: list[int | None]) -> npt.NDArray[np.intp]:
        """New customers at the end, in one go."""
        start, count = self.size, len(ids)
        if start + count > len(self.ids):
            capacity = max(1024, 2 * (start + count))
            self.ids = grown(self.ids, capacity, None)
            self.alive = grown(self.alive, capacity, False)
            for column in self.columns.values():
                column.grow(capacity)
        slots = np.arange(start, start + count, dtype=np.intp)
        self.ids[slots] = ids
        self.slot_of.update(zip(ids, range(start, start + count), strict=True))
        times = np.array([t or 0 for t in created], dtype=np.int64)
        previous_times = np.concatenate([self.created[start - 1 : start], times[:-1]])
        previous_ids = np.concatenate([self.ids[start - 1 : start], self.ids[slots][:-1]])
        first = 0 if start else 1  # the first customer of all has no predecessor
        later = times[first:] > previous_times
        tied = (times[first:] == previous_times) & (self.ids[slots][first:] > previous_ids)
        if not bool(np.all(later | tied)):
            self.out_of_order = True
        self.created[slots] = times
        self.size = start + count
        return slots

    def _slots(self, ids: list[str], created: list[int | None]) -> npt.NDArray[np.intp]:
        slots = np.empty(len(ids), dtype=np.intp)
        for row, cid in enumerate(ids):
            slot = self.slot_of.get(cid)
            if slot is None:
                slot = self._append(cid, created[row] or 0)
            elif self.created[slot] != created[row]:
                self.out_of_order = True  # create_time never changes; be safe if it does
            slots[row] = slot
        return slots

    def _append(self, cid: str, created: int) -> int:
        slot = self.size
        if slot and (created, cid) < (int(self.created[slot - 1]), str(self.ids[slot - 1])):
            self.out_of_order = True
        if slot >= len(self.ids):
            capacity = max(1024, 2 * slot)
            self.ids = grown(self.ids, capacity, None)
            self.alive = grown(self.alive, capacity, False)
            for column in self.columns.values():
                column.grow(capacity)
        self.ids[slot] = cid
        self.slot_of[cid] = slot
        self.created[slot] = created
        self.size = slot + 1
        return slot

    def reorder(self) -> None:
        """Put the slots in (create_time, id) order again."""
        size = self.size
        order = np.lexsort((self.ids[:size].astype(str), self.created[:size]))
        self.ids[:size] = self.ids[:size][order]
        self.alive[:size] = self.alive[:size][order]
        for column in self.columns.values():
            column.take(order)
        self.slot_of = {cid: slot for slot, cid in enumerate(self.ids[:size])}
        self.out_of_order = False


def micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch, exactly."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive means UTC here
    delta = aware.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
