"""Reading a leaf's text values as typed values.

Each reader returns the value or raises ``ValueError`` with a description a
person can act on; the parser turns those into field violations.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_CALENDAR_UNITS = re.compile(r"P(?:\d+Y)|P(?:\d+Y)?\d+M")


def read_number(text: str) -> int | float:
    """``"42"`` -> 42, ``"-1.5"`` -> -1.5, ``"1e3"`` -> 1000.0."""
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        raise ValueError(f"{text!r} is not a number")
    if re.fullmatch(r"[+-]?\d+", stripped):
        return int(stripped)
    number = float(stripped)
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is too large")
    return number


def read_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp with an offset, e.g. ``2024-05-01T08:00:00Z``; returned in UTC."""
    example = "such as 2024-05-01T08:00:00Z"
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp ({example})") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no time zone offset; write one, {example}")
    return value.astimezone(UTC)


def read_duration(text: str) -> timedelta:
    """An ISO-8601 duration in weeks, days, hours, minutes, seconds: ``P7D``, ``PT24H``."""
    stripped = text.strip().upper()
    match = _DURATION.fullmatch(stripped)
    if not match or stripped in ("P", "PT") or stripped.endswith("T"):
        if _CALENDAR_UNITS.match(stripped):
            raise ValueError(
                f"{text!r}: months and years vary in length; use days or weeks, such as P30D"
            )
        raise ValueError(f"{text!r} is not an ISO-8601 duration such as P7D or PT24H")
    parts = {name: float(amount) for name, amount in match.groupdict().items() if amount}
    try:
        duration = timedelta(**parts)
    except OverflowError:
        raise ValueError(f"{text!r} is too long") from None
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    return duration


def read_boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ValueError(f"{text!r} is not a boolean; write true or false")
