"""What an inbound message may claim (send time, channel account), and how its sender is spelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument
from messaging.domain.model import Inbound, Sender

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _inbound(**changes: object) -> Inbound:
    fields: dict[str, object] = {"sender": Sender(Channel.EMAIL, "ana@b.co"), "text": "hello"}
    return Inbound(**(fields | changes))  # type: ignore[arg-type]


def _refused_fields(inbound: Inbound) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        inbound.validate(NOW)
    return [v.field for v in caught.value.violations]


@pytest.mark.parametrize(
    "send_time",
    [
        datetime(9999, 12, 31, tzinfo=UTC),
        NOW + timedelta(hours=24, seconds=1),
        datetime(1999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ],
)
def test_implausible_send_times_are_refused(send_time: datetime) -> None:
    assert _refused_fields(_inbound(send_time=send_time)) == ["send_time"]


@pytest.mark.parametrize(
    "send_time",
    [
        None,
        NOW,
        NOW - timedelta(days=3650),
        NOW + timedelta(hours=23),
        datetime(2000, 1, 1, tzinfo=UTC),
    ],
)
def test_plausible_send_times_pass(send_time: datetime | None) -> None:
    _inbound(send_time=send_time).validate(NOW)


@pytest.mark.parametrize(
    "config",
    [
        "channelConfigs/../../x",
        "channelConfigs/a/b",
        "channelConfigs/",
        "channelConfigs/..",
        "customers/42",
        "channelConfigs/a b",
        "channelConfigs/" + "a" * 64,
    ],
)
def test_channel_configs_must_be_one_of_its_resource_names(config: str) -> None:
    assert _refused_fields(_inbound(channel_config=config)) == ["channel_config"]


@pytest.mark.parametrize(
    "config",
    ["", "channelConfigs/shop-eu_1", "channelConfigs/7d4c1f0e-94c7-4c36-a3f6-0b5e2f0c9d1a"],
)
def test_channel_config_names_pass(config: str) -> None:
    _inbound(channel_config=config).validate(NOW)


def test_senders_are_nfc_trimmed_and_emails_lower_cased() -> None:
    spelled = _inbound(sender=Sender(Channel.EMAIL, "  Rene\u0301@B.co ", " Shop-EU ")).normalized()
    assert spelled.sender == Sender(Channel.EMAIL, "ren\u00e9@b.co", "shop-eu")
    handle = _inbound(sender=Sender(Channel.WHATSAPP, " +49 170 ")).normalized()
    assert handle.sender == Sender(Channel.WHATSAPP, "+49 170", "")
    named = _inbound(sender=Sender(Channel.AMAZON, "Buye\u0301X")).normalized()
    assert named.sender.external_id == "Buy\u00e9X"  # case is kept off e-mail
