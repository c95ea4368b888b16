"""Column kinds of the filter index: one array per attribute, one slot per customer.

Each kind answers a leaf of a condition with a boolean mask over all slots,
with the same meaning as the SQL of ``customer_filter_sql`` (two-valued: a
missing value matches only ``is_empty`` and the negative operators). A mask
only has to be right where ``candidates`` is true: kinds that must look at
values one by one (free text, e-mail lists) look only there.

Arrays grow by doubling; ``size`` slots are in use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from crosstalk_common.conditions.model import Op

Mask = npt.NDArray[np.bool_]

MISSING_TIME = np.iinfo(np.int64).min
NEGATIVE = {
    Op.NOT_EQUALS: Op.EQUALS,
    Op.NOT_IN: Op.IN,
    Op.NOT_CONTAINS: Op.CONTAINS,
    Op.HAS_NO_TAG: Op.HAS_ANY_TAG,
}


def grown(array: npt.NDArray[Any], capacity: int, fill: Any) -> npt.NDArray[Any]:
    """``array`` copied into a longer one, new slots set to ``fill``."""
    if capacity <= len(array):
        return array
    if array.dtype == object:
        bigger = np.empty(capacity, dtype=object)
        for slot in range(len(array), capacity):
            bigger[slot] = fill  # one by one: a tuple fill must stay one value
    else:
        bigger = np.full(capacity, fill, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


def sparse(candidates: Mask | None, size: int) -> npt.NDArray[np.intp] | None:
    """The candidates' slots when they are few (then reading values at those
    slots beats comparing every slot); None otherwise."""
    if candidates is None or np.count_nonzero(candidates[:size]) * 16 > size:
        return None
    return np.flatnonzero(candidates[:size])


def on_slots(slots: npt.NDArray[np.intp], size: int, found: Mask) -> Mask:
    """A full-size mask that is ``found`` at ``slots`` and false elsewhere."""
    mask = np.zeros(size, dtype=np.bool_)
    mask[slots] = found
    return mask


def where_true(candidates: Mask | None, size: int) -> npt.NDArray[np.intp]:
    return np.arange(size) if candidates is None else np.flatnonzero(candidates[:size])


class Column:
    """One attribute of every customer."""

    def grow(self, capacity: int) -> None:
        raise NotImplementedError

    def set_many(self, slots: npt.NDArray[np.intp], values: Sequence[Any]) -> None:
        """Slot ``slots[i]`` takes ``values[i]``."""
        raise NotImplementedError

    def arrays(self) -> list[npt.NDArray[Any]]:
        """The per-slot arrays, for ``take``."""
        return [self.values]  # type: ignore[attr-defined]

    def take(self, order: npt.NDArray[np.intp]) -> None:
        """Slot i takes what slot ``order[i]`` held (the first ``len(order)`` slots)."""
        for array in self.arrays():
            array[: len(order)] = array[: len(order)][order]

    def match(self, op: Op, values: tuple[Any, ...], candidates: Mask | None, size: int) -> Mask:
        raise NotImplementedError


class Numbers(Column):
    """Numbers (NaN when missing); ints are stored exactly in int64."""

    def __init__(self, values: Sequence[float | int | None], *, integer: bool) -> None:
        if integer:
            self.values = np.array([0 if v is None else v for v in values], dtype=np.int64)
            self.present = np.ones(len(values), dtype=np.bool_)
        else:
            self.values = np.array(
                [np.nan if v is None else float(v) for v in values], dtype=np.float64
            )
            self.present = ~np.isnan(self.values)

    def grow(self, capacity: int) -> None:
        self.values = grown(self.values, capacity, 0)
        self.present = grown(self.present, capacity, False)

    def arrays(self) -> list[npt.NDArray[Any]]:
        return [self.values, self.present]

    def set_many(self, slots: npt.NDArray[np.intp], values: Sequence[Any]) -> None:
        self.present[slots] = [v is not None for v in values]
        self.values[slots] = [0 if v is None else v for v in values]

    def match(self, op: Op, values: tuple[Any, ...], candidates: Mask | None, size: int) -> Mask:
        v, present = self.values[:size], self.present[:size]
        if op is Op.IS_EMPTY:
            return ~present
        if op is Op.IS_NOT_EMPTY:
            return present.copy()
        if op in NEGATIVE:
            return ~self.match(NEGATIVE[op], values, candidates, size)
        slots = sparse(candidates, size)
        if slots is not None:
            return on_slots(slots, size, present[slots] & compare(v[slots], op, values))
        return present & compare(v, op, values)


def compare(v: npt.NDArray[Any], op: Op, values: tuple[Any, ...]) -> Mask:
    """An ordered or equality comparison of a numeric array with condition values."""
    if op is Op.EQUALS:
        return np.asarray(v == values[0])
    if op is Op.IN:
        found = np.zeros(len(v), dtype=np.bool_)
        for value in values:
            found |= v == value
        return found
    if op in (Op.GT, Op.AFTER):
        return np.asarray(v > values[0])
    if op in (Op.GTE, Op.WITHIN_LAST):
        return np.asarray(v >= values[0])
    if op in (Op.LT, Op.BEFORE):
        return np.asarray(v < values[0])
    if op is Op.LTE:
        return np.asarray(v <= values[0])
    if op is Op.BETWEEN:
        return np.asarray((v >= values[0]) & (v <= values[1]))
    raise ValueError(f"{op} does not apply to numbers")


class Times(Numbers):
    """Instants as int64 microseconds (or days, for date custom fields); values
    arrive already converted to the same unit by the evaluator."""

    def __init__(self, values: Sequence[int | None]) -> None:
        self.values = np.array([MISSING_TIME if v is None else v for v in values], dtype=np.int64)
        self.present = self.values != MISSING_TIME

    def grow(self, capacity: int) -> None:
        self.values = grown(self.values, capacity, MISSING_TIME)
        self.present = grown(self.present, capacity, False)

    def set_many(self, slots: npt.NDArray[np.intp], values: Sequence[Any]) -> None:
        self.values[slots] = [MISSING_TIME if v is None else v for v in values]
        self.present[slots] = self.values[slots] != MISSING_TIME


class Flags(Column):
    """Booleans: 1, 0, or -1 when missing."""

    def __init__(self, values: Sequence[bool | None]) -> None:
        self.values = np.array([-1 if v is None else int(bool(v)) for v in values], dtype=np.int8)

    def grow(self, capacity: int) -> None:
        self.values = grown(self.values, capacity, -1)

    def set_many(self, slots: npt.NDArray[np.intp], values: Sequence[Any]) -> None:
        self.values[slots] = [-1 if v is None else int(bool(v)) for v in values]

    def match(self, op: Op, values: tuple[Any, ...], candidates: Mask | None, size: int) -> Mask:
        v = self.values[:size]
        if op is Op.IS_EMPTY:
            return np.asarray(v == -1)
        if op is Op.IS_NOT_EMPTY:
            return np.asarray(v != -1)
        equal: Mask = (v != -1) & compare(v, Op.EQUALS if op is Op.NOT_EQUALS else op, values)
        return ~equal if op is Op.NOT_EQUALS else equal


class Words(Column):
    """Strings of few distinct values (country, stage, owner, select fields),
    kept as codes into a list of the distinct words; -1 when missing."""

    def __init__(self, values: Iterable[str | None]) -> None:
        self.words: list[str] = []
        self.codes_of: dict[str, int] = {}
        self.values = np.array([self._code(v) for v in values], dtype=np.int32)

    def _code(self, word: str | None) -> int:
        if word is None:
            return -1
        code = self.codes_of.get(word)
        if code is None:
            code = self.codes_of[word] = len(self.words)
            self.words.append(word)
        return code

    def grow(self, capacity: int) -> None:
        self.values = grown(self.values, capacity, -1)

    def set_many(self, slots: npt.NDArray[np.intp], values: Sequence[Any]) -> None:
        known = self.codes_of.get
        codes = [-1 if v is None else known(v, -2) for v in values]
        for i, code in enumerate(codes):
            if code == -2:  # a word not seen yet (or not a str)
                codes[i] = self._code(str(values[i]))
        self.values[slots] = codes

    def _any_code(self, codes: Iterable[int], size: int, candidates: Mask | None = None) -> Mask:
        slots = sparse(candidates, size)
        v = self.values[:size] if slots is None else self.values[slots]
        found = np.zeros(len(v), dtype=np.bool_)
        for code in codes:
            found |= v == code
        return found if slots is None else on_slots(slots, size, found)

    def match(self, op: Op, values: tuple[Any, ...], candidates: Mask | None, size: int) -> Mask:
        if op in NEGATIVE:
            return ~self.match(NEGATIVE[op], values, candidates, size)
        empty = [c for c in (self.codes_of.get(""),) if c is not None] + [-1]
        if op is Op.IS_EMPTY:
            return self._any_code(empty, size)
        if op is Op.IS_NOT_EMPTY:
            return ~self._any_code(empty, size)
        if op in (Op.EQUALS, Op.IN):
            wanted = {str(v) for v in (values[:1] if op is Op.EQUALS else values)}
            codes = [self.codes_of[w] for w in wanted if w in self.codes_of]
            return self._any_code(codes, size, candidates)
        if op is Op.CONTAINS:
            needles = [str(v).lower() for v in values]
            codes = [
                code
                for code, word in enumerate(self.words)
                if any(n in word.lower() for n in needles)
            ]
            return self._any_code(codes, size)
        raise ValueError(f"{op} does not apply to text")


class Texts(Column):
    """Free text of many distinct values (names, text custom fields); None when missing."""

    def __init__(self, values: Sequence[str | None]) -> None:
        self.values = np.empty(len(values), dtype=object)
        self.values[:] = list(values)
        self.filled = np.array([bool(v) for v in values], dtype=np.bool_)

    def grow(self, capacity: int) -> None:
        self.values = grown(self.values, capacity, None)
        self.filled = grown(self.filled, capacity, False)

    def arrays(self) -> list[npt.NDArray[Any]]:
        return [self.values, self.filled]

    def set_many(self, slots: npt.NDArray[np.intp], values: Sequence[Any]) -> None:
        for slot, value in zip(slots, values, strict=True):
            self.values[slot] = None if value is None else str(value)
        self.filled[slots] = [bool(v) for v in values]

    def match(self, op: Op, values: tuple[Any, ...], candidates: Mask | None, size: int) -> Mask:
        if op in NEGATIVE:
            return ~self.match(NEGATIVE[op], values, candidates, size)
        if op is Op.IS_EMPTY:
            return ~self.filled[:size]
        if op is Op.IS_NOT_EMPTY:
            return self.filled[:size].copy()
        v = self.values[:size]
        if op in (Op.EQUALS, Op.IN):
            wanted = {str(w) for w in (values[:1] if op is Op.EQUALS else values)}
            return per_slot(v, candidates, size, lambda s: s in wanted)
        if op is Op.CONTAINS:
            needles = [str(n).lower() for n in values]
            return per_slot(
                v,
                candidates,
                size,
                lambda s: s is not None and any(n in s.lower() for n in needles),
            )
        raise ValueError(f"{op} does not apply to text")


def per_slot(
    values: npt.NDArray[Any], candidates: Mask | None, size: int, test: Callable[[Any], bool]
) -> Mask:
    """``test`` applied to each candidate's value (False elsewhere)."""
    slots = where_true(candidates, size)
    found = np.zeros(size, dtype=np.bool_)
    if len(slots):
        found[slots] = np.fromiter(
            (test(x) for x in values[slots]), dtype=np.bool_, count=len(slots)
        )
    return found


class Sets(Column):
    """Sets of few distinct values (tags, channels, stores, multi-select
    options): one packed bitmap per value, plus each slot's set size."""

    def __init__(self, size: int) -> None:
        self.capacity = size
        self.bits: dict[str, npt.NDArray[np.uint8]] = {}
        self.sizes = np.zeros(size, dtype=np.int32)

    def _bitmap(self, value: str) -> npt.NDArray[np.uint8]:
        bitmap = self.bits.get(value)
        if bitmap is None:
            bitmap = self.bits[value] = np.zeros((self.capacity + 7) // 8, dtype=np.uint8)
        return bitmap

    def add_all(self, value: str, slots: npt.NDArray[np.intp]) -> None:
        """Set ``value`` in many slots at once (building; ``recount`` afterwards)."""
        bitmap = self._bitmap(value)
        np.bitwise_or.at(bitmap, slots >> 3, (128 >> (slots & 7)).astype(np.uint8))

    def recount(self, size: int) -> None:
        """Each slot's set size, from the bitmaps."""
        sizes = np.zeros(size, dtype=np.int32)
        for value in self.bits:
            sizes += self.has(value, size)
        self.sizes[:size] = sizes

    def arrays(self) -> list[npt.NDArray[Any]]:
        return [self.sizes]

    def take(self, order: npt.NDArray[np.intp]) -> None:
        super().take(order)
        size = len(order)
        for bitmap in self.bits.values():
            packed = np.packbits(self.has_bits(bitmap, size)[order])
            bitmap[: len(packed)] = packed

    def grow(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        self.capacity = capacity
        self.sizes = grown(self.sizes, capacity, 0)
        for value, bitmap in self.bits.items():
            self.bits[value] = grown(bitmap, (capacity + 7) // 8, 0)

    def set_many(self, slots: npt.NDArray[np.intp], values: Sequence[Any]) -> None:
        """Each slot's whole set is replaced."""
        byte = slots >> 3
        bit = (128 >> (slots & 7)).astype(np.uint8)
        for bitmap in self.bits.values():
            np.bitwise_and.at(bitmap, byte, ~bit)
        members: dict[str, list[int]] = {}
        for i, value in enumerate(values):
            for word in set(value or ()):
                members.setdefault(word, []).append(i)
        for word, where in members.items():
            chosen = np.array(where, dtype=np.intp)
            np.bitwise_or.at(self._bitmap(word), byte[chosen], bit[chosen])
        self.sizes[slots] = [len(set(v or ())) for v in values]

    def has(self, value: str, size: int, candidates: Mask | None = None) -> Mask:
        bitmap = self.bits.get(value)
        if bitmap is None:
            return np.zeros(size, dtype=np.bool_)
        slots = sparse(candidates, size)
        if slots is not None:
            bits = (bitmap[slots >> 3] >> (7 - (slots & 7)).astype(np.uint8)) & 1
            return on_slots(slots, size, bits.astype(np.bool_))
        return self.has_bits(bitmap, size)

    @staticmethod
    def has_bits(bitmap: npt.NDArray[np.uint8], size: int) -> Mask:
        return np.unpackbits(bitmap, count=size).view(np.bool_)

    def has_any(self, values: Iterable[str], size: int, candidates: Mask | None = None) -> Mask:
        found = np.zeros(size, dtype=np.bool_)
        for value in dict.fromkeys(values):
            found |= self.has(value, size, candidates)
        return found

    def match(self, op: Op, values: tuple[Any, ...], candidates: Mask | None, size: int) -> Mask:
        if op in NEGATIVE:
            return ~self.match(NEGATIVE[op], values, candidates, size)
        if op in (Op.IS_EMPTY, Op.IS_NOT_EMPTY):
            empty = np.asarray(self.sizes[:size] == 0)
            return empty if op is Op.IS_EMPTY else ~empty
        words = [str(v) for v in values]
        if op in (Op.HAS_ANY_TAG, Op.IN):
            return self.has_any(words, size, candidates)
        if op is Op.EQUALS:
            return self.has_any(words[:1], size, candidates)
        if op is Op.HAS_ALL_TAGS:
            found = np.ones(size, dtype=np.bool_)
            for word in dict.fromkeys(words):
                found &= self.has(word, size, candidates)
            return found
        if op is Op.CONTAINS:
            needles = [w.lower() for w in words]
            return self.has_any(
                (w for w in self.bits if any(n in w.lower() for n in needles)), size
            )
        raise ValueError(f"{op} does not apply to sets")


def json_list_test(op: Op, values: tuple[Any, ...]) -> Callable[[str], bool]:
    """A positive leaf on a JSON array's text, as ``customer_filter_sql._json_list``
    compiles it: an element is its quoted JSON string inside the text."""
    words = [str(v) for v in values]
    quoted = [json.dumps(w) for w in words]
    lowered = [w.lower() for w in words]
    if op is Op.IS_EMPTY:
        return lambda text: text in ("", "[]", "null")
    if op is Op.IS_NOT_EMPTY:
        return lambda text: text not in ("", "[]", "null")
    if op is Op.CONTAINS:
        return lambda text: any(n in text.lower() for n in lowered)
    if op is Op.HAS_ALL_TAGS:
        return lambda text: all(q in text for q in quoted)
    if op is Op.EQUALS:
        quoted = quoted[:1]
    if op in (Op.EQUALS, Op.IN, Op.HAS_ANY_TAG):
        return lambda text: any(q in text for q in quoted)
    raise ValueError(f"{op} does not apply to lists")


class JsonLists(Texts):
    """JSON arrays of many distinct values (e-mail addresses, phone numbers), as text."""

    def match(self, op: Op, values: tuple[Any, ...], candidates: Mask | None, size: int) -> Mask:
        if op in NEGATIVE:
            return ~self.match(NEGATIVE[op], values, candidates, size)
        test = json_list_test(op, values)
        return per_slot(self.values[:size], candidates, size, lambda t: test(t or ""))


class JsonWords(Words):
    """JSON arrays of few distinct values (multi-select fields), as text: each
    distinct text is tested once."""

    def match(self, op: Op, values: tuple[Any, ...], candidates: Mask | None, size: int) -> Mask:
        if op in NEGATIVE:
            return ~self.match(NEGATIVE[op], values, candidates, size)
        test = json_list_test(op, values)
        codes = [code for code, word in enumerate(self.words) if test(word)]
        if test(""):
            codes.append(-1)
        return self._any_code(codes, size)
