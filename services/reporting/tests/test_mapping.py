"""Events and requests into reporting's domain, figures back into protos."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.events.v1 import customer_events_pb2, identity_events_pb2, messaging_events_pb2
from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.errors import InvalidArgument
from reporting.adapters.mapping import metric_query_from_pb, observed_event, query_response_to_pb
from reporting.domain.counting import ObservedEvent, Owner
from reporting.domain.metrics import Granularity, MetricQuery

AT = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)


def event(payload: Message) -> Event:
    _, envelope = new_envelope("t1", payload, occurred_at=AT, trace_context={})
    return Event(envelope, payload)


def test_a_created_customer_brings_its_owner_without_resource_prefixes() -> None:
    created = customer_events_pb2.CustomerCreated(
        customer="customers/1", owner="members/m1", department="departments/d1"
    )
    assert observed_event(event(created)) == ObservedEvent(
        "t1", "customer.created", AT, "customers/1", Owner("m1", "d1")
    )
    unassigned = customer_events_pb2.CustomerCreated(customer="customers/2")
    assert observed_event(event(unassigned)).new_owner == Owner("", "")


def test_an_event_names_its_customer_only_when_its_payload_has_one() -> None:
    message = messaging_events_pb2.MessageReceived(customer="customers/1")
    assert observed_event(event(message)) == ObservedEvent(
        "t1", "message.received", AT, "customers/1", None
    )
    tenant = identity_events_pb2.TenantCreated(tenant="tenants/t1")
    assert observed_event(event(tenant)).customer == ""


def test_a_metric_query_needs_its_fields_and_a_known_granularity() -> None:
    with pytest.raises(InvalidArgument) as caught:
        metric_query_from_pb(pb.QueryMetricRequest(granularity=99))  # type: ignore[arg-type]
    assert [v.field for v in caught.value.violations] == [
        "metric",
        "start_time",
        "end_time",
        "granularity",
    ]
    start, end = Timestamp(seconds=1_772_000_000), Timestamp(seconds=1_772_086_400)
    request = pb.QueryMetricRequest(metric="rules_fired", start_time=start, end_time=end)
    assert metric_query_from_pb(request) == MetricQuery(
        metric="rules_fired",
        start=start.ToDatetime(tzinfo=UTC),
        end=end.ToDatetime(tzinfo=UTC),
        granularity=Granularity.DAY,
    )


def test_buckets_become_points_at_the_start_of_their_utc_day_with_a_total() -> None:
    response = query_response_to_pb([(date(2026, 3, 2), 3), (date(2026, 3, 9), 2)])
    assert [(p.start_time.ToDatetime(tzinfo=UTC), p.value) for p in response.points] == [
        (datetime(2026, 3, 2, tzinfo=UTC), 3.0),
        (datetime(2026, 3, 9, tzinfo=UTC), 2.0),
    ]
    assert response.total == 5.0
