"""Proto <-> domain conversion for reporting: events in, figures out."""

from __future__ import annotations

from datetime import UTC, date, datetime

from crosstalk.events.v1 import customer_events_pb2
from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk_common.api.timestamps import from_timestamp, to_timestamp
from crosstalk_common.bus.envelope import Event
from crosstalk_common.errors import FieldViolation, InvalidArgument
from reporting.domain.counting import ObservedEvent, Owner
from reporting.domain.metrics import Granularity, MetricQuery

_GRANULARITY = {
    pb.GRANULARITY_UNSPECIFIED: Granularity.DAY,
    pb.GRANULARITY_DAY: Granularity.DAY,
    pb.GRANULARITY_WEEK: Granularity.WEEK,
    pb.GRANULARITY_MONTH: Granularity.MONTH,
}


def _customer_of(event: Event) -> str:
    """The customer an event is about, when its payload names one."""
    if "customer" not in event.payload.DESCRIPTOR.fields_by_name:
        return ""
    return str(getattr(event.payload, "customer"))  # noqa: B009 - a proto field


def observed_event(event: Event) -> ObservedEvent:
    payload = event.payload
    new_owner = None
    if isinstance(payload, customer_events_pb2.CustomerCreated):
        new_owner = Owner(
            member_id=payload.owner.removeprefix("members/"),
            department_id=payload.department.removeprefix("departments/"),
        )
    return ObservedEvent(
        tenant_id=event.tenant_id,
        event_type=event.type,
        occurred_at=from_timestamp(event.envelope.occurred_time),
        customer=_customer_of(event),
        new_owner=new_owner,
    )


def metric_query_from_pb(request: pb.QueryMetricRequest) -> MetricQuery:
    problems = []
    if not request.metric:
        problems.append(FieldViolation("metric", "is required, e.g. 'messages_received'"))
    if not request.HasField("start_time"):
        problems.append(FieldViolation("start_time", "is required"))
    if not request.HasField("end_time"):
        problems.append(FieldViolation("end_time", "is required"))
    if request.granularity not in _GRANULARITY:
        problems.append(FieldViolation("granularity", "unknown granularity"))
    if problems:
        raise InvalidArgument(problems)
    return MetricQuery(
        metric=request.metric,
        start=from_timestamp(request.start_time),
        end=from_timestamp(request.end_time),
        granularity=_GRANULARITY[request.granularity],
    )


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def query_response_to_pb(buckets: list[tuple[date, int]]) -> pb.QueryMetricResponse:
    return pb.QueryMetricResponse(
        points=[
            pb.MetricPoint(start_time=to_timestamp(_start_of(day)), value=float(n))
            for day, n in buckets
        ],
        total=float(sum(n for _, n in buckets)),
    )


def dashboard_to_pb(totals: dict[str, int]) -> pb.Dashboard:
    return pb.Dashboard(**totals)
