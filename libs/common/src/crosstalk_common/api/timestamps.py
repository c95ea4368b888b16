"""``google.protobuf.Timestamp`` to and from ``datetime``, the one way every service does it.

A naive ``datetime`` (as SQLite hands back) is taken as UTC; times read from a
request are aware and in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(value: datetime | None) -> Timestamp:
    """The Timestamp of ``value``; ``None`` gives the zero Timestamp, which is still set."""
    stamp = Timestamp()
    if value is not None:
        stamp.FromDatetime(value)
    return stamp


def timestamp_or_none(value: datetime | None) -> Timestamp | None:
    """The Timestamp of ``value``; ``None`` leaves the field it is given to unset."""
    return None if value is None else to_timestamp(value)


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def time_field(message: Message, field: str) -> datetime | None:
    """A Timestamp field of a request as a datetime; ``None`` when the caller left it out."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return from_timestamp(stamp)
