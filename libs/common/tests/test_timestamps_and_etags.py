from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.rules.v1 import resources_pb2
from crosstalk_common.api.etags import check_etag
from crosstalk_common.api.timestamps import (
    from_timestamp,
    time_field,
    timestamp_or_none,
    to_timestamp,
)
from crosstalk_common.errors import Aborted

AT = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


def test_a_time_goes_to_a_timestamp_and_back() -> None:
    assert from_timestamp(to_timestamp(AT)) == AT
    assert from_timestamp(to_timestamp(AT.astimezone(timezone(timedelta(hours=3))))) == AT


def test_a_naive_time_is_taken_as_utc() -> None:
    assert from_timestamp(to_timestamp(AT.replace(tzinfo=None))) == AT


def test_no_time_is_the_zero_timestamp_or_an_unset_field() -> None:
    assert to_timestamp(None) == Timestamp()
    assert resources_pb2.Rule(create_time=to_timestamp(None)).HasField("create_time")
    assert not resources_pb2.Rule(create_time=timestamp_or_none(None)).HasField("create_time")
    assert timestamp_or_none(AT) == to_timestamp(AT)


def test_a_time_field_left_out_reads_as_none() -> None:
    assert time_field(resources_pb2.Rule(), "create_time") is None
    assert time_field(resources_pb2.Rule(create_time=to_timestamp(AT)), "create_time") == AT


def test_an_etag_given_must_be_the_current_one() -> None:
    check_etag("", "v2", "rules/r1")
    check_etag("v2", "v2", "rules/r1")
    with pytest.raises(Aborted) as caught:
        check_etag("v1", "v2", "rules/r1")
    assert caught.value.reason == "ETAG_MISMATCH"
    assert caught.value.metadata == {"resourceName": "rules/r1"}


@pytest.mark.parametrize(
    "moment",
    [
        AT,
        AT.replace(tzinfo=None),
        AT.astimezone(timezone(timedelta(hours=3))),
        datetime(
            2026, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5, minutes=-30))
        ),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(1900, 2, 28, 12, 0, 0, 1),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ],
)
def test_a_time_has_the_seconds_and_nanos_protobuf_gives_it(moment: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(moment)
    got = to_timestamp(moment)
    assert (got.seconds, got.nanos) == (expected.seconds, expected.nanos)
