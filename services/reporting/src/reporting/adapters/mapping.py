"""Proto <-> domain conversion for reporting: events in, figures out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message as ProtoMessage

from crosstalk.common.v1 import channel_pb2, lifecycle_stage_pb2, money_pb2
from crosstalk.events.v1 import customer_events_pb2, messaging_events_pb2, rule_events_pb2
from crosstalk.messaging.v1 import cases_pb2, resources_pb2
from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk_common.api.timestamps import from_timestamp, to_timestamp
from crosstalk_common.bus.envelope import Event
from crosstalk_common.errors import FieldViolation, InvalidArgument
from reporting.app.metrics import MetricAnswer, RowsQuery
from reporting.app.ports import FactRow
from reporting.domain import histogram
from reporting.domain.catalogue import Dimension, Metric
from reporting.domain.observed import (
    CaseOpened,
    CaseTransitioned,
    ConversationAssigned,
    ConversationOpened,
    ConversationStatusChanged,
    CsatSubmitted,
    CustomerChanged,
    CustomerSnapshot,
    MessageIn,
    MessageOut,
    ObservedEvent,
    OrderRecorded,
    RuleActionCompleted,
    RuleFired,
    RuleHourCounts,
    Seen,
    Unmeasured,
)
from reporting.domain.querying import Granularity, MetricQuery, Point

GRANULARITY = {
    pb.GRANULARITY_UNSPECIFIED: Granularity.DAY,
    pb.GRANULARITY_HOUR: Granularity.HOUR,
    pb.GRANULARITY_DAY: Granularity.DAY,
    pb.GRANULARITY_WEEK: Granularity.WEEK,
    pb.GRANULARITY_MONTH: Granularity.MONTH,
}
GROUP_BY = {
    pb.GROUP_BY_TEAM: Dimension.TEAM,
    pb.GROUP_BY_MARKET: Dimension.MARKET,
    pb.GROUP_BY_TIER: Dimension.TIER,
    pb.GROUP_BY_TAG: Dimension.TAG,
    pb.GROUP_BY_CHANNEL: Dimension.CHANNEL,
    pb.GROUP_BY_AGENT: Dimension.AGENT,
    pb.GROUP_BY_DEPARTMENT: Dimension.DEPARTMENT,
    pb.GROUP_BY_STORE: Dimension.STORE,
    pb.GROUP_BY_LANGUAGE: Dimension.LANGUAGE,
    pb.GROUP_BY_RULE: Dimension.RULE,
    pb.GROUP_BY_CASE_TYPE: Dimension.CASE_TYPE,
    pb.GROUP_BY_STAGE: Dimension.STAGE,
    pb.GROUP_BY_OUTCOME: Dimension.OUTCOME,
    pb.GROUP_BY_CURRENCY: Dimension.CURRENCY,
}
GROUP_BY_PB = {d: g for g, d in GROUP_BY.items()}
GRANULARITY_PB = {
    Granularity.HOUR: pb.GRANULARITY_HOUR,
    Granularity.DAY: pb.GRANULARITY_DAY,
    Granularity.WEEK: pb.GRANULARITY_WEEK,
    Granularity.MONTH: pb.GRANULARITY_MONTH,
}


# -- events in -------------------------------------------------------------------


def _name(enum: Any, value: int, prefix: str) -> str:
    """The value's name without the enum's prefix; "" for UNSPECIFIED and for
    values this build does not know (a newer producer's)."""
    try:
        name = str(enum.Name(value))
    except ValueError:
        return ""
    return "" if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix)


def _channel(value: int) -> str:
    return _name(channel_pb2.Channel, value, "CHANNEL_")


def _stage(value: int) -> str:
    return _name(lifecycle_stage_pb2.LifecycleStage, value, "LIFECYCLE_STAGE_")


def _status(value: int) -> str:
    return _name(resources_pb2.ConversationStatus, value, "CONVERSATION_STATUS_")


def _case_type(value: int) -> str:
    return _name(cases_pb2.CaseType, value, "CASE_TYPE_")


def _case_state(value: int) -> str:
    return _name(cases_pb2.CaseState, value, "CASE_STATE_")


def _outcome(value: int) -> str:
    return _name(rule_events_pb2.RuleActionOutcome, value, "RULE_ACTION_OUTCOME_")


def _amount(money: money_pb2.Money) -> float:
    return money.units + money.nanos / 1e9


def _language(tag: str) -> str:
    return tag.split("-")[0].lower() if tag and tag != "und" else ""


def _snapshot(payload: ProtoMessage) -> CustomerSnapshot | None:
    if not payload.HasField("snapshot"):
        return None
    s = getattr(payload, "snapshot")  # noqa: B009 - a proto field
    return CustomerSnapshot(
        version=s.version,
        owner=s.owner.removeprefix("members/"),
        department=s.department.removeprefix("departments/"),
        tier=s.tier,
        country=s.country.upper(),
        tags=tuple(s.tags),
        stage=_stage(s.lifecycle_stage),
        deleted=s.deleted,
    )


def _customer_event(seen: Seen, event: Event) -> ObservedEvent:
    p = event.payload
    tags_added = len(p.tags) if isinstance(p, customer_events_pb2.CustomerTagged) else 0
    from_stage = to_stage = ""
    if isinstance(p, customer_events_pb2.CustomerStageChanged):
        from_stage, to_stage = _stage(p.from_stage), _stage(p.to_stage)
    return CustomerChanged(
        seen,
        customer=str(getattr(p, "customer")),  # noqa: B009 - a proto field
        event_type=event.type,
        snapshot=_snapshot(p),
        tags_added=tags_added,
        from_stage=from_stage,
        to_stage=to_stage,
    )


def _order(seen: Seen, p: customer_events_pb2.OrderRecorded) -> ObservedEvent:
    return OrderRecorded(
        seen,
        customer=p.customer,
        order=p.order,
        amount=_amount(p.amount),
        currency=p.amount.currency_code.upper(),
        store=p.store,
        order_count=p.order_count,
    )


def _message_in(seen: Seen, p: messaging_events_pb2.MessageReceived) -> ObservedEvent:
    return MessageIn(
        seen,
        message=p.message,
        conversation=p.conversation,
        customer=p.customer,
        channel=_channel(p.sender.channel),
        language=_language(p.language),
    )


def _message_out(seen: Seen, p: messaging_events_pb2.MessageSent) -> ObservedEvent:
    return MessageOut(
        seen,
        message=p.message,
        conversation=p.conversation,
        customer=p.customer,
        sent_by=p.sent_by,
        language=_language(p.language),
    )


def _conversation_opened(seen: Seen, p: messaging_events_pb2.ConversationCreated) -> ObservedEvent:
    return ConversationOpened(
        seen,
        conversation=p.conversation,
        customer=p.customer,
        channel=_channel(p.channel or p.identity.channel),
        store=p.identity.store,
        language=_language(p.language),
    )


def _assigned(seen: Seen, p: messaging_events_pb2.ConversationAssigned) -> ObservedEvent:
    return ConversationAssigned(
        seen,
        conversation=p.conversation,
        customer=p.customer,
        assignee=p.assignee,
        team=p.assignee_group,
    )


def _status_changed(seen: Seen, p: messaging_events_pb2.ConversationStatusChanged) -> ObservedEvent:
    return ConversationStatusChanged(
        seen,
        conversation=p.conversation,
        customer=p.customer,
        from_status=_status(p.from_status),
        to_status=_status(p.to_status),
    )


def _case_opened(seen: Seen, p: messaging_events_pb2.CaseOpened) -> ObservedEvent:
    return CaseOpened(
        seen,
        case=p.case,
        customer=p.customer,
        case_type=_case_type(p.case_type),
        amount=_amount(p.amount),
        currency=p.amount.currency_code.upper(),
    )


def _case_transitioned(seen: Seen, p: messaging_events_pb2.CaseTransitioned) -> ObservedEvent:
    return CaseTransitioned(
        seen,
        case=p.case,
        customer=p.customer,
        case_type=_case_type(p.case_type),
        from_state=_case_state(p.from_state),
        to_state=_case_state(p.to_state),
    )


def _csat(seen: Seen, p: messaging_events_pb2.CsatSubmitted) -> ObservedEvent:
    return CsatSubmitted(
        seen,
        survey=p.csat_survey,
        conversation=p.conversation,
        customer=p.customer,
        assignee=p.assignee,
        score=p.score,
    )


def _rule_fired(seen: Seen, p: rule_events_pb2.RuleFired) -> ObservedEvent:
    return RuleFired(seen, rule=p.rule, run=p.run, customer=p.customer)


def _action_completed(
    seen: Seen,
    p: rule_events_pb2.RuleActionCompleted | rule_events_pb2.CustomerRuleActionCompleted,
) -> ObservedEvent:
    return RuleActionCompleted(
        seen, rule=p.rule, run=p.run, action_type=p.action_type, outcome=_outcome(p.outcome)
    )


_BY_PAYLOAD: dict[type[ProtoMessage], Callable[[Seen, ProtoMessage], ObservedEvent]] = {
    customer_events_pb2.OrderRecorded: _order,  # type: ignore[dict-item]
    messaging_events_pb2.MessageReceived: _message_in,  # type: ignore[dict-item]
    messaging_events_pb2.MessageSent: _message_out,  # type: ignore[dict-item]
    messaging_events_pb2.ConversationCreated: _conversation_opened,  # type: ignore[dict-item]
    messaging_events_pb2.ConversationAssigned: _assigned,  # type: ignore[dict-item]
    messaging_events_pb2.ConversationStatusChanged: _status_changed,  # type: ignore[dict-item]
    messaging_events_pb2.CaseOpened: _case_opened,  # type: ignore[dict-item]
    messaging_events_pb2.CaseTransitioned: _case_transitioned,  # type: ignore[dict-item]
    messaging_events_pb2.CsatSubmitted: _csat,  # type: ignore[dict-item]
    rule_events_pb2.RuleFired: _rule_fired,  # type: ignore[dict-item]
    rule_events_pb2.RuleActionCompleted: _action_completed,  # type: ignore[dict-item]
    rule_events_pb2.CustomerRuleActionCompleted: _action_completed,  # type: ignore[dict-item]
}


def _rule_statistics(event: Event) -> list[ObservedEvent]:
    """One report carries many rules and hours: one observed event each."""
    payload = event.payload
    assert isinstance(payload, rule_events_pb2.RuleStatisticsReported)
    out: list[ObservedEvent] = []
    for i, counts in enumerate(payload.counts):
        seen = Seen(
            event_id=f"{event.envelope.event_id}:{i}",
            tenant_id=event.tenant_id,
            at=from_timestamp(event.envelope.occurred_time),
        )
        out.append(
            RuleHourCounts(
                seen,
                rule=counts.rule,
                hour=from_timestamp(counts.hour),
                evaluated=counts.evaluated,
                matched=counts.matched,
                suppressed=tuple(sorted(counts.suppressed.items())),
            )
        )
    return out


def observed_events(event: Event) -> list[ObservedEvent]:
    """What reporting reads in an event: usually one observed event, several for a
    report that covers many rules and hours."""
    if isinstance(event.payload, rule_events_pb2.RuleStatisticsReported):
        return _rule_statistics(event)
    return [observed_event(event)]


def observed_event(event: Event) -> ObservedEvent:
    seen = Seen(
        event_id=event.envelope.event_id,
        tenant_id=event.tenant_id,
        at=from_timestamp(event.envelope.occurred_time),
    )
    payload = event.payload
    build = _BY_PAYLOAD.get(type(payload))
    if build is not None:
        return build(seen, payload)
    if event.envelope.producer == "customers" and "snapshot" in payload.DESCRIPTOR.fields_by_name:
        return _customer_event(seen, event)
    return Unmeasured(seen, event.type)


# -- queries in --------------------------------------------------------------------


def _time_range(
    request: pb.QueryMetricRequest | pb.ListMetricRowsRequest,
    problems: list[FieldViolation],
) -> tuple[datetime, datetime]:
    if not request.metric:
        problems.append(FieldViolation("metric", "is required, e.g. 'messages_received'"))
    if not request.HasField("start_time"):
        problems.append(FieldViolation("start_time", "is required"))
    if not request.HasField("end_time"):
        problems.append(FieldViolation("end_time", "is required"))
    start = from_timestamp(request.start_time) if request.HasField("start_time") else _EPOCH
    end = from_timestamp(request.end_time) if request.HasField("end_time") else _EPOCH
    return start, end


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def filters_from_pb(
    filters: Sequence[pb.MetricFilter], problems: list[FieldViolation], field: str = "filters"
) -> tuple[tuple[Dimension, tuple[str, ...]], ...]:
    out = []
    for i, f in enumerate(filters):
        dimension = GROUP_BY.get(f.dimension)
        if dimension is None:
            problems.append(
                FieldViolation(f"{field}[{i}].dimension", "name a dimension (GROUP_BY_...)")
            )
            continue
        out.append((dimension, tuple(f.values)))
    return tuple(out)


def metric_query_from_pb(request: pb.QueryMetricRequest) -> MetricQuery:
    problems: list[FieldViolation] = []
    start, end = _time_range(request, problems)
    granularity = GRANULARITY.get(request.granularity)
    if granularity is None:
        problems.append(FieldViolation("granularity", "unknown granularity"))
    group_bys: list[Dimension] = []
    if request.group_by != pb.GROUP_BY_UNSPECIFIED:
        if request.group_by not in GROUP_BY:
            problems.append(FieldViolation("group_by", "unknown dimension"))
        else:
            group_bys.append(GROUP_BY[request.group_by])
    for i, g in enumerate(request.group_bys):
        dimension = GROUP_BY.get(g)
        if dimension is None:
            problems.append(FieldViolation(f"group_bys[{i}]", "name a dimension (GROUP_BY_...)"))
        elif dimension not in group_bys:
            group_bys.append(dimension)
    filters = filters_from_pb(request.filters, problems)
    if problems:
        raise InvalidArgument(problems)
    assert granularity is not None
    return MetricQuery(
        metric=request.metric,
        start=start,
        end=end,
        granularity=granularity,
        time_zone=request.time_zone,
        group_bys=tuple(group_bys),
        filters=filters,
        compare_previous=request.compare_previous,
    )


def rows_query_from_pb(request: pb.ListMetricRowsRequest) -> RowsQuery:
    problems: list[FieldViolation] = []
    start, end = _time_range(request, problems)
    filters = filters_from_pb(request.filters, problems)
    if problems:
        raise InvalidArgument(problems)
    return RowsQuery(request.metric, start, end, filters)


# -- figures out -------------------------------------------------------------------


def _point_pb(point: Point, with_histogram: bool) -> pb.MetricPoint:
    message = pb.MetricPoint(
        start_time=to_timestamp(point.start),
        value=point.value,
        group=point.groups[0] if point.groups else "",
        groups=list(point.groups),
        count=point.count,
        sum=point.total,
        p50=point.p50,
        p90=point.p90,
        numerator=point.numerator,
        denominator=point.denominator,
    )
    if with_histogram:
        for bucket in sorted(point.buckets):
            lower, upper = histogram.bounds(bucket)
            message.buckets.append(
                pb.HistogramBucket(lower=lower, upper=upper, count=point.buckets[bucket])
            )
    return message


def query_response_to_pb(answer: MetricAnswer) -> pb.QueryMetricResponse:
    metric = answer.metric
    histogram_too = metric.aggregation.value == "distribution"
    response = pb.QueryMetricResponse(
        points=[_point_pb(p, histogram_too) for p in answer.current.points],
        total=answer.current.summary.value,
        unit=metric.unit,
        aggregation=metric.aggregation.value,
        summary=_point_pb(answer.current.summary, histogram_too),
    )
    if answer.previous is not None:
        response.previous_points.extend(_point_pb(p, histogram_too) for p in answer.previous.points)
        response.previous_total = answer.previous.summary.value
        response.previous_summary.CopyFrom(_point_pb(answer.previous.summary, histogram_too))
    return response


def metric_definition_to_pb(metric: Metric) -> pb.MetricDefinition:
    return pb.MetricDefinition(
        metric=metric.name,
        display_name=metric.display_name,
        description=metric.description,
        unit=metric.unit,
        group_bys=sorted(GROUP_BY_PB[d] for d in metric.dimensions),
        aggregation=metric.aggregation.value,
    )


def metric_row_to_pb(row: FactRow) -> pb.MetricRow:
    return pb.MetricRow(
        occur_time=to_timestamp(row.at),
        subject=row.subject,
        customer=row.customer,
        value=row.value,
        dimensions=row.dimensions,
        event_id=row.event_id,
    )
