"""``crosstalk.common.v1.Channel`` to and from the domain's ``Channel``: the one mapping.

Every service converts channels here, at its edge (requests, responses, events).

Not to be confused with ``crosstalk_common.grpc.channels`` (gRPC connections).
"""

from __future__ import annotations

from crosstalk.common.v1 import channel_pb2
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import FieldViolation, InvalidArgument

# By name: Channel.EMAIL is CHANNEL_EMAIL (a member the proto lacks fails here, at import).
_TO_PB: dict[Channel, channel_pb2.Channel.ValueType] = {
    channel: channel_pb2.Channel.Value(channel.api_name) for channel in Channel
}
_FROM_PB: dict[int, Channel] = {int(value): channel for channel, value in _TO_PB.items()}


def channel_to_pb(channel: Channel) -> channel_pb2.Channel.ValueType:
    return _TO_PB[channel]


def channel_from_pb(value: int, *, field: str) -> Channel:
    """``CHANNEL_EMAIL`` -> ``Channel.EMAIL``; INVALID_ARGUMENT naming ``field`` when unset
    or unknown."""
    channel = _FROM_PB.get(value)
    if channel is None:
        raise InvalidArgument([FieldViolation(field, "a channel is required (e.g. CHANNEL_EMAIL)")])
    return channel


def channel_or_none(value: int) -> Channel | None:
    """An event's channel: ``None`` when unset; ValueError for a value this build does not know."""
    if value == channel_pb2.CHANNEL_UNSPECIFIED:
        return None
    channel = _FROM_PB.get(value)
    if channel is None:
        raise ValueError(f"unknown crosstalk.common.v1.Channel value {value}")
    return channel
