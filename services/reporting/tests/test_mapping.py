"""Events and requests into reporting's domain, figures back into protos."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.common.v1 import channel_pb2, lifecycle_stage_pb2, money_pb2
from crosstalk.events.v1 import customer_events_pb2, identity_events_pb2, messaging_events_pb2
from crosstalk.messaging.v1 import resources_pb2
from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from reporting.adapters.mapping import metric_query_from_pb, observed_event
from reporting.adapters.mapping_reports import schedule_change
from reporting.domain.catalogue import Dimension
from reporting.domain.observed import (
    ConversationStatusChanged,
    CustomerChanged,
    CustomerSnapshot,
    MessageIn,
    OrderRecorded,
    Unmeasured,
)
from reporting.domain.querying import Granularity, MetricQuery
from reporting.domain.reports import FileFormat, Schedule

AT = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)


def event(payload: Message) -> Event:
    _, envelope = new_envelope("t1", payload, occurred_at=AT, trace_context={})
    return Event(envelope, payload)


def test_a_customer_event_brings_its_snapshot_without_resource_prefixes() -> None:
    created = customer_events_pb2.CustomerCreated(
        customer="customers/1",
        snapshot=customer_events_pb2.CustomerSnapshot(
            version=3,
            owner="members/m1",
            department="departments/d1",
            tier="VIP",
            country="de",
            tags=["tags/a"],
            lifecycle_stage=lifecycle_stage_pb2.LIFECYCLE_STAGE_DEAL,
        ),
    )
    observed = observed_event(event(created))
    assert isinstance(observed, CustomerChanged)
    assert observed.event_type == "customer.created"
    assert observed.snapshot == CustomerSnapshot(3, "m1", "d1", "VIP", "DE", ("tags/a",), "DEAL")
    bare = observed_event(event(customer_events_pb2.CustomerCreated(customer="customers/2")))
    assert isinstance(bare, CustomerChanged)
    assert bare.snapshot is None


def test_messages_orders_and_statuses_carry_names_not_enum_numbers() -> None:
    received = messaging_events_pb2.MessageReceived(
        message="conversations/c/messages/m",
        conversation="conversations/c",
        customer="customers/1",
        sender=channel_pb2.ChannelIdentity(channel=channel_pb2.CHANNEL_EMAIL),
        language="es-MX",
    )
    observed = observed_event(event(received))
    assert isinstance(observed, MessageIn)
    assert (observed.channel, observed.language) == ("EMAIL", "es")
    order = customer_events_pb2.OrderRecorded(
        order="customers/1/orders/o",
        customer="customers/1",
        amount=money_pb2.Money(currency_code="eur", units=12, nanos=500_000_000),
        order_count=2,
    )
    recorded = observed_event(event(order))
    assert isinstance(recorded, OrderRecorded)
    assert (recorded.amount, recorded.currency, recorded.order_count) == (12.5, "EUR", 2)
    changed = messaging_events_pb2.ConversationStatusChanged(
        conversation="conversations/c",
        from_status=resources_pb2.CONVERSATION_STATUS_UNREAD,
        to_status=resources_pb2.CONVERSATION_STATUS_CLOSED,
    )
    status = observed_event(event(changed))
    assert isinstance(status, ConversationStatusChanged)
    assert (status.from_status, status.to_status) == ("UNREAD", "CLOSED")


def test_events_reporting_does_not_measure_pass_through() -> None:
    tenant = identity_events_pb2.TenantCreated(tenant="tenants/t1")
    observed = observed_event(event(tenant))
    assert observed == Unmeasured(observed.seen, "tenant.created")


def test_a_metric_query_names_each_bad_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        metric_query_from_pb(
            pb.QueryMetricRequest(
                granularity=99,  # type: ignore[arg-type]
                group_bys=[77],  # type: ignore[list-item]
                filters=[pb.MetricFilter(dimension=55)],  # type: ignore[arg-type]
            )
        )
    assert [v.field for v in caught.value.violations] == [
        "metric",
        "start_time",
        "end_time",
        "granularity",
        "group_bys[0]",
        "filters[0].dimension",
    ]


def test_group_by_and_group_bys_make_one_list_of_dimensions() -> None:
    start, end = Timestamp(seconds=1_772_000_000), Timestamp(seconds=1_772_086_400)
    request = pb.QueryMetricRequest(
        metric="messages_received",
        start_time=start,
        end_time=end,
        group_by=pb.GROUP_BY_CHANNEL,
        group_bys=[pb.GROUP_BY_CHANNEL, pb.GROUP_BY_LANGUAGE],
        filters=[pb.MetricFilter(dimension=pb.GROUP_BY_TIER, values=["VIP"])],
        time_zone="Asia/Shanghai",
        compare_previous=True,
    )
    assert metric_query_from_pb(request) == MetricQuery(
        metric="messages_received",
        start=start.ToDatetime(tzinfo=UTC),
        end=end.ToDatetime(tzinfo=UTC),
        granularity=Granularity.DAY,
        time_zone="Asia/Shanghai",
        group_bys=(Dimension.CHANNEL, Dimension.LANGUAGE),
        filters=((Dimension.TIER, ("VIP",)),),
        compare_previous=True,
    )


def test_a_schedule_update_masked_to_enabled_keeps_and_checks_only_that_field() -> None:
    everything = Visibility(DataScope.ALL)
    current = Schedule(
        id="s1",
        tenant_id="t1",
        owner="m1",
        visibility=everything,
        display_name="Weekly",
        metrics=("messages_received",),
        lookback=timedelta(days=7),
        cron="0 9 * * MON",
        time_zone="Asia/Shanghai",
        format=FileFormat.XLSX,
        recipients=("lead@example.com",),
        enabled=True,
        granularity=Granularity.WEEK,
    )
    # What PATCH ...?updateMask=enabled {"enabled": false} sends: nothing else set.
    change = schedule_change(
        pb.ScheduledReport(name="scheduledReports/s1", enabled=False), ["enabled"], "t1", everything
    )
    assert change(current) == replace(current, enabled=False)
    renamed = schedule_change(
        pb.ScheduledReport(display_name="周报"), ["display_name"], "t1", everything
    )(current)
    assert renamed == replace(current, display_name="周报")
    with pytest.raises(InvalidArgument):  # a masked field is still checked
        schedule_change(pb.ScheduledReport(), ["format"], "t1", everything)(current)
