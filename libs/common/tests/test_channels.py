"""The one Channel, and its one mapping to and from crosstalk.common.v1.Channel."""

from __future__ import annotations

import pytest

from crosstalk.common.v1 import channel_pb2
from crosstalk_common.api.channels import channel_from_pb, channel_or_none, channel_to_pb
from crosstalk_common.domain.channel import CHANNEL_ALIASES, Channel
from crosstalk_common.errors import FieldViolation, InvalidArgument

_SET = [v for v in channel_pb2.Channel.values() if v != channel_pb2.CHANNEL_UNSPECIFIED]
_REQUIRED = FieldViolation("sender.channel", "a channel is required (e.g. CHANNEL_EMAIL)")


@pytest.mark.parametrize("value", _SET, ids=channel_pb2.Channel.Name)
def test_every_proto_channel_maps_and_goes_back(value: channel_pb2.Channel.ValueType) -> None:
    channel = channel_from_pb(value, field="sender.channel")
    assert channel.api_name == channel_pb2.Channel.Name(value)
    assert channel_to_pb(channel) == value
    assert channel_or_none(value) is channel


def test_every_channel_has_a_proto_value_of_its_own() -> None:
    assert sorted(channel_to_pb(c) for c in Channel) == sorted(_SET)


@pytest.mark.parametrize("value", [channel_pb2.CHANNEL_UNSPECIFIED, 999, -1])
def test_an_unset_or_unknown_channel_is_refused_naming_the_field(value: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        channel_from_pb(value, field="sender.channel")
    assert refused.value.violations == (_REQUIRED,)


def test_an_event_without_a_channel_has_none_and_an_unknown_one_is_an_error() -> None:
    assert channel_or_none(channel_pb2.CHANNEL_UNSPECIFIED) is None
    with pytest.raises(ValueError, match="999"):
        channel_or_none(999)


def test_stored_values_and_condition_aliases_stay_as_they_are() -> None:
    # Tables hold these values; changing one needs a migration.
    assert {c.name: c.value for c in Channel} == {
        "EMAIL": "email",
        "PHONE": "phone",
        "WHATSAPP": "whatsapp",
        "WEB_CHAT": "web_chat",
        "AMAZON": "amazon",
        "EBAY": "ebay",
        "SHOPEE": "shopee",
    }
    assert CHANNEL_ALIASES["CHANNEL_WEB_CHAT"] == "web_chat"
    assert set(CHANNEL_ALIASES) == {channel_pb2.Channel.Name(v) for v in _SET}
