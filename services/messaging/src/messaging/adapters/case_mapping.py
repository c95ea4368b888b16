"""Cases between the domain and the protos of the contract (API and events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.protobuf.duration_pb2 import Duration

from crosstalk.common.v1 import money_pb2, priority_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk.messaging.v1 import cases_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk_common.api.field_mask import populated_fields, resolve_update_paths
from crosstalk_common.api.resource_names import optional_resource_id
from crosstalk_common.api.timestamps import timestamp_or_none, to_timestamp
from crosstalk_common.errors import FieldViolation, InvalidArgument
from messaging.app.case_ports import CaseFilter
from messaging.app.cases import CaseChanges, NewCase
from messaging.domain.cases import (
    EDITABLE_FIELDS,
    Case,
    CaseState,
    CaseTransition,
    CaseType,
    Money,
    case_name,
)
from messaging.domain.conversation import Priority
from messaging.domain.events import CaseOpened, CaseTransitioned

T = TypeVar("T")

_TYPE_PREFIX = "CASE_TYPE_"
_STATE_PREFIX = "CASE_STATE_"
_PRIORITY_PREFIX = "PRIORITY_"


def case_type_to_pb(case_type: CaseType) -> cases_pb2.CaseType.ValueType:
    return cases_pb2.CaseType.Value(_TYPE_PREFIX + case_type.name)


def case_type_from_pb(value: int, *, field: str, required: bool = True) -> CaseType | None:
    if value == cases_pb2.CASE_TYPE_UNSPECIFIED:
        if required:
            raise InvalidArgument.field(
                field, f"is required: one of {', '.join(_TYPE_PREFIX + t.name for t in CaseType)}"
            )
        return None
    try:
        return CaseType[cases_pb2.CaseType.Name(value).removeprefix(_TYPE_PREFIX)]  # type: ignore[arg-type]
    except (ValueError, KeyError):
        raise InvalidArgument.field(field, f"{value} is not a case type") from None


def case_state_to_pb(state: CaseState) -> cases_pb2.CaseState.ValueType:
    return cases_pb2.CaseState.Value(_STATE_PREFIX + state.name)


def case_state_from_pb(value: int, *, field: str) -> CaseState:
    if value == cases_pb2.CASE_STATE_UNSPECIFIED:
        raise InvalidArgument.field(field, "is required: the state to move to")
    try:
        return CaseState[cases_pb2.CaseState.Name(value).removeprefix(_STATE_PREFIX)]  # type: ignore[arg-type]
    except (ValueError, KeyError):
        raise InvalidArgument.field(field, f"{value} is not a case state") from None


def priority_to_pb(priority: Priority) -> priority_pb2.Priority.ValueType:
    return priority_pb2.Priority.Value(_PRIORITY_PREFIX + priority.name)


def priority_from_pb(value: int, *, field: str) -> Priority | None:
    """None when unspecified."""
    if value == priority_pb2.PRIORITY_UNSPECIFIED:
        return None
    try:
        return Priority[priority_pb2.Priority.Name(value).removeprefix(_PRIORITY_PREFIX)]  # type: ignore[arg-type]
    except (ValueError, KeyError):
        raise InvalidArgument.field(field, f"{value} is not a priority") from None


def money_to_pb(money: Money | None) -> money_pb2.Money | None:
    if money is None:
        return None
    return money_pb2.Money(currency_code=money.currency_code, units=money.units, nanos=money.nanos)


def money_from_pb(message: money_pb2.Money) -> Money:
    return Money(message.currency_code.strip().upper(), message.units, message.nanos)


def _member_id(name: str, *, field: str) -> str:
    return optional_resource_id(name, "members", field=field)


def _conversation_id(name: str, *, field: str) -> str:
    return optional_resource_id(name, "conversations", field=field)


def _customer(name: str, *, field: str) -> str:
    if name:
        optional_resource_id(name, "customers", field=field)  # checks the pattern
    return name


def transition_to_pb(step: CaseTransition) -> cases_pb2.CaseTransition:
    return cases_pb2.CaseTransition(
        from_state=case_state_to_pb(step.from_state),
        to_state=case_state_to_pb(step.to_state),
        note=step.note,
        actor=step.actor,
        create_time=to_timestamp(step.at),
    )


def case_to_pb(case: Case) -> cases_pb2.Case:
    return cases_pb2.Case(
        name=case_name(case.id),
        type=case_type_to_pb(case.type),
        state=case_state_to_pb(case.state),
        customer=case.customer,
        conversation=f"conversations/{case.conversation_id}" if case.conversation_id else "",
        order_external_id=case.order_external_id,
        amount=money_to_pb(case.amount),
        reason=case.reason,
        description=case.description,
        assignee=f"members/{case.assignee}" if case.assignee else "",
        priority=priority_to_pb(case.priority),
        allowed_next_states=[case_state_to_pb(s) for s in case.allowed_next_states],
        transitions=[transition_to_pb(t) for t in case.transitions],
        create_time=to_timestamp(case.created_at),
        update_time=to_timestamp(case.updated_at),
        close_time=timestamp_or_none(case.closed_at),
        etag=case.etag,
        sla_due_time=to_timestamp(case.sla_due_at),
    )


def _collect(bad: list[FieldViolation], read: Callable[[], T]) -> T | None:
    try:
        return read()
    except InvalidArgument as exc:
        bad.extend(exc.violations)
        return None


def new_case_from_pb(body: cases_pb2.Case) -> NewCase:
    """CreateCase's case; every bad field is reported at once."""
    bad: list[FieldViolation] = []
    case_type = _collect(bad, lambda: case_type_from_pb(body.type, field="case.type"))
    conversation = _collect(
        bad, lambda: _conversation_id(body.conversation, field="case.conversation")
    )
    customer = _collect(bad, lambda: _customer(body.customer, field="case.customer"))
    assignee = _collect(bad, lambda: _member_id(body.assignee, field="case.assignee"))
    priority = _collect(bad, lambda: priority_from_pb(body.priority, field="case.priority"))
    if bad or case_type is None:
        raise InvalidArgument(bad)
    return NewCase(
        type=case_type,
        customer=customer or "",
        conversation_id=conversation or "",
        order_external_id=body.order_external_id,
        amount=money_from_pb(body.amount) if body.HasField("amount") else None,
        reason=body.reason,
        description=body.description,
        assignee=assignee or "",
        priority=priority or Priority.NORMAL,
    )


def case_changes_from_pb(request: pb.UpdateCaseRequest) -> CaseChanges:
    body = request.case
    populated = populated_fields(body)
    if not request.update_mask.paths and "state" in populated:
        raise InvalidArgument.field(
            "case.state", "changes only through TransitionCase (POST /v1/cases/{id}:transition)"
        )
    if "state" in request.update_mask.paths:
        raise InvalidArgument.field("update_mask", "state changes only through TransitionCase")
    paths = resolve_update_paths(
        list(request.update_mask.paths), populated=populated, updatable=EDITABLE_FIELDS
    )
    values: dict[str, object] = {}
    for path in paths:
        if path == "conversation":
            values[path] = _conversation_id(body.conversation, field="case.conversation")
        elif path == "assignee":
            values[path] = _member_id(body.assignee, field="case.assignee")
        elif path == "amount":
            values[path] = money_from_pb(body.amount) if body.HasField("amount") else None
        elif path == "priority":
            values[path] = priority_from_pb(body.priority, field="case.priority") or Priority.NORMAL
        else:
            values[path] = getattr(body, path)
    return CaseChanges(values)


def case_filter_from_pb(request: pb.ListCasesRequest) -> CaseFilter:
    states: set[CaseState] = set()
    for i, value in enumerate(request.states):
        states.add(case_state_from_pb(value, field=f"states[{i}]"))
    return CaseFilter(
        type=case_type_from_pb(request.type, field="type", required=False),
        states=frozenset(states),
        customer=_customer(request.customer, field="customer"),
        assignee=_member_id(request.assignee, field="assignee"),
    )


def case_keys(case: Case) -> list[str]:
    return [case.created_at.isoformat(), case.id]


# --- events ---------------------------------------------------------------------------


def case_opened_pb(event: CaseOpened) -> messaging_events_pb2.CaseOpened:
    case = event.case
    return messaging_events_pb2.CaseOpened(
        case=case_name(case.id),
        customer=case.customer,
        conversation=f"conversations/{case.conversation_id}" if case.conversation_id else "",
        case_type=case_type_to_pb(case.type),
        amount=money_to_pb(case.amount),
        reason=case.reason,
        actor=event.actor,
        order_external_id=case.order_external_id,
        priority=priority_to_pb(case.priority),
        open_time=to_timestamp(case.created_at),
        sla_due_time=to_timestamp(case.sla_due_at),
        cause_event_id=event.cause_event_id,
    )


def case_transitioned_pb(event: CaseTransitioned) -> messaging_events_pb2.CaseTransitioned:
    case, step = event.case, event.transition
    resolved = case.time_to_resolve() if step.to_state.is_final else None
    took: Duration | None = None
    if resolved is not None:
        took = Duration()
        took.FromTimedelta(resolved)
    return messaging_events_pb2.CaseTransitioned(
        case=case_name(case.id),
        customer=case.customer,
        case_type=case_type_to_pb(case.type),
        from_state=case_state_to_pb(step.from_state),
        to_state=case_state_to_pb(step.to_state),
        note=step.note,
        actor=step.actor,
        amount=money_to_pb(case.amount),
        open_time=to_timestamp(case.created_at),
        sla_due_time=to_timestamp(case.sla_due_at),
        transition_time=to_timestamp(step.at),
        time_to_resolve=took,
        sla_breached=step.at > case.sla_due_at,
    )
