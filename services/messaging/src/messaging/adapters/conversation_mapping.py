"""Proto <-> domain for the conversations area: conversations, labels, the inbox filter,
status / priority / strategy enums, and the conversation events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from crosstalk.common.v1 import assignment_pb2, channel_pb2, priority_pb2
from crosstalk.events.v1 import messaging_events_pb2 as events_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.api.channels import channel_from_pb, channel_to_pb
from crosstalk_common.api.resource_names import resource_id, resource_ids
from crosstalk_common.api.timestamps import from_timestamp, timestamp_or_none, to_timestamp
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import FieldViolation, InvalidArgument
from messaging.app.conversation_ports import ConversationFilter
from messaging.domain.conversation import (
    AssignmentChange,
    Conversation,
    ConversationLabel,
    Priority,
    PriorityChange,
)
from messaging.domain.conversation_assignment import AssignStrategy
from messaging.domain.conversation_state import ConversationStatus, StatusChange

_STATUS_TO_PB = {
    ConversationStatus.UNREAD: resources_pb2.CONVERSATION_STATUS_UNREAD,
    ConversationStatus.REPLIED: resources_pb2.CONVERSATION_STATUS_REPLIED,
    ConversationStatus.IN_PROGRESS: resources_pb2.CONVERSATION_STATUS_IN_PROGRESS,
    ConversationStatus.EXCEPTION: resources_pb2.CONVERSATION_STATUS_EXCEPTION,
    ConversationStatus.CLOSED: resources_pb2.CONVERSATION_STATUS_CLOSED,
}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}
_STRATEGY_FROM_PB = {
    assignment_pb2.ASSIGN_STRATEGY_UNSPECIFIED: AssignStrategy.ROUND_ROBIN,
    assignment_pb2.ASSIGN_STRATEGY_ROUND_ROBIN: AssignStrategy.ROUND_ROBIN,
    assignment_pb2.ASSIGN_STRATEGY_LEAST_BUSY: AssignStrategy.LEAST_BUSY,
    assignment_pb2.ASSIGN_STRATEGY_LANGUAGE_AWARE: AssignStrategy.LANGUAGE_AWARE,
}
_T = TypeVar("_T")


def conversation_id(name: str, *, field: str = "name") -> str:
    return resource_id(name, "conversations", field=field)


def label_name(label_id: str) -> str:
    return f"conversationLabels/{label_id}"


def label_id(name: str, *, field: str = "name") -> str:
    return resource_id(name, "conversationLabels", field=field)


def status_to_pb(status: ConversationStatus) -> resources_pb2.ConversationStatus.ValueType:
    return _STATUS_TO_PB[status]


def status_from_pb(value: int, *, field: str = "status") -> ConversationStatus:
    found: ConversationStatus | None = _STATUS_FROM_PB.get(value)  # type: ignore[call-overload]
    if found is None:
        raise InvalidArgument.field(
            field, "must be one of UNREAD, REPLIED, IN_PROGRESS, EXCEPTION, CLOSED"
        )
    return found


def priority_to_pb(priority: Priority) -> priority_pb2.Priority.ValueType:
    return priority_pb2.Priority.ValueType(int(priority))


def priority_from_pb(value: int, *, field: str = "priority") -> Priority:
    if value not in {int(p) for p in Priority}:
        raise InvalidArgument.field(field, "must be one of LOW, NORMAL, HIGH, URGENT")
    return Priority(value)


def strategy_from_pb(value: int) -> AssignStrategy:
    found: AssignStrategy | None = _STRATEGY_FROM_PB.get(value)  # type: ignore[call-overload]
    if found is None:
        raise InvalidArgument.field("strategy", "must be ROUND_ROBIN, LEAST_BUSY or LANGUAGE_AWARE")
    return found


def member_name(name: str, *, field: str) -> str:
    """ "members/{member}" checked and given back as is ("" stays "")."""
    if name:
        resource_id(name, "members", field=field)
    return name


def group_name(name: str, *, field: str) -> str:
    if name:
        resource_id(name, "groups", field=field)
    return name


def assignment_from_pb(
    request: pb.AssignConversationRequest,
) -> tuple[str, str, AssignStrategy]:
    """(assignee, group, strategy); every bad field reported at once."""
    bad: list[FieldViolation] = []
    found: list[str] = []
    readers: tuple[Callable[[], str], ...] = (
        lambda: member_name(request.assignee.strip(), field="assignee"),
        lambda: group_name(request.assignee_group.strip(), field="assignee_group"),
    )
    for read in readers:
        try:
            found.append(read())
        except InvalidArgument as e:
            bad.extend(e.violations)
            found.append("")
    strategy = AssignStrategy.ROUND_ROBIN
    try:
        strategy = strategy_from_pb(request.strategy)
    except InvalidArgument as e:
        bad.extend(e.violations)
    if bad:
        raise InvalidArgument(bad)
    return found[0], found[1], strategy


def _owner(prefix: str, value: str) -> str:
    return f"{prefix}/{value}" if value else ""


def conversation_to_pb(conversation: Conversation) -> resources_pb2.Conversation:
    state = conversation.state
    identity = conversation.sender
    return resources_pb2.Conversation(
        name=f"conversations/{conversation.id}",
        customer=conversation.customer,
        channel=channel_to_pb(identity.channel),
        identity=channel_pb2.ChannelIdentity(
            channel=channel_to_pb(identity.channel),
            external_id=identity.external_id,
            store=identity.store,
        ),
        channel_config=conversation.channel_config,
        status=status_to_pb(state.status),
        priority=priority_to_pb(conversation.priority),
        assignee=conversation.assignee,
        assignee_group=conversation.assignee_group,
        language=conversation.language,
        subject=conversation.subject,
        last_message_time=to_timestamp(conversation.last_message_at),
        last_inbound_time=timestamp_or_none(state.last_inbound_at),
        unread_count=state.follow_ups,
        message_count=conversation.message_count,
        create_time=to_timestamp(conversation.created_at),
        update_time=to_timestamp(conversation.updated_at),
        etag=conversation.etag,
        follow_ups=state.follow_ups,
        last_agent_reply_time=timestamp_or_none(state.last_agent_reply_at),
        open_time=timestamp_or_none(state.opened_at),
        labels=[label_name(i) for i in conversation.labels],
        owner=_owner("members", conversation.owner_member_id),
        department=_owner("departments", conversation.department_id),
    )


def label_to_pb(label: ConversationLabel) -> resources_pb2.ConversationLabel:
    return resources_pb2.ConversationLabel(
        name=label_name(label.id),
        display_name=label.display_name,
        create_time=to_timestamp(label.created_at),
    )


def _time(request: pb.ListConversationsRequest, field: str) -> datetime | None:
    if not request.HasField(field):  # type: ignore[arg-type]
        return None
    try:
        return from_timestamp(getattr(request, field))
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field, "is not a valid timestamp") from None


def _customer(name: str) -> str:
    if name:
        resource_id(name, "customers", field="customer")
    return name


def filter_from_pb(request: pb.ListConversationsRequest) -> ConversationFilter:
    """The inbox filter; every bad field is reported at once."""
    bad: list[FieldViolation] = []

    def read(value: Callable[[], _T], default: _T) -> _T:
        try:
            return value()
        except InvalidArgument as e:
            bad.extend(e.violations)
            return default

    statuses: set[ConversationStatus] = set()
    for index, value in enumerate(request.statuses):
        try:
            statuses.add(status_from_pb(value, field=f"statuses[{index}]"))
        except InvalidArgument as e:
            bad.extend(e.violations)
    no_priority: Priority | None = None
    priority = read(
        lambda: priority_from_pb(request.priority) if request.priority else None, no_priority
    )
    no_channel: Channel | None = None
    channel = read(
        lambda: channel_from_pb(request.channel, field="channel") if request.channel else None,
        no_channel,
    )
    assignee = read(
        lambda: "-" if request.assignee == "-" else member_name(request.assignee, field="assignee"),
        "",
    )
    group = read(lambda: group_name(request.assignee_group, field="assignee_group"), "")
    customer = read(lambda: _customer(request.customer), "")
    after = read(lambda: _time(request, "last_inbound_after"), None)
    before = read(lambda: _time(request, "last_inbound_before"), None)
    no_ids: tuple[str, ...] = ()
    tags = read(lambda: resource_ids(request.customer_tags, "tags", field="customer_tags"), no_ids)
    labels = read(
        lambda: resource_ids(request.labels, "conversationLabels", field="labels"), no_ids
    )
    if len(request.language) > 35:
        bad.append(FieldViolation("language", "at most 35 characters"))
    if after is not None and before is not None and not after < before:
        bad.append(FieldViolation("last_inbound_before", "must be after last_inbound_after"))
    if bad:
        raise InvalidArgument(bad)
    return ConversationFilter(
        statuses=frozenset(statuses),
        priority=priority,
        channel=channel,
        store=request.store.strip().lower(),
        assignee=assignee,
        assignee_group=group,
        language=request.language.strip(),
        customer=customer,
        unread=request.unread if request.HasField("unread") else None,
        last_inbound_after=after,
        last_inbound_before=before,
        customer_tier=request.customer_tier.strip(),
        customer_tags=tuple(f"tags/{t}" for t in tags),
        labels=tuple(labels),
    )


# --- events -------------------------------------------------------------------------------


def status_changed_pb(
    conversation: Conversation, change: StatusChange, cause_event_id: str
) -> events_pb2.ConversationStatusChanged:
    state = conversation.state
    return events_pb2.ConversationStatusChanged(
        conversation=f"conversations/{conversation.id}",
        customer=conversation.customer,
        from_status=status_to_pb(change.from_status),
        to_status=status_to_pb(change.to_status),
        actor=change.actor,
        cause_event_id=cause_event_id,
        follow_ups=state.follow_ups,
        last_inbound_time=timestamp_or_none(state.last_inbound_at),
        last_agent_reply_time=timestamp_or_none(state.last_agent_reply_at),
        change_time=to_timestamp(change.at),
    )


def priority_changed_pb(
    conversation: Conversation, change: PriorityChange, cause_event_id: str
) -> events_pb2.ConversationPriorityChanged:
    return events_pb2.ConversationPriorityChanged(
        conversation=f"conversations/{conversation.id}",
        customer=conversation.customer,
        from_priority=priority_to_pb(change.from_priority),
        to_priority=priority_to_pb(change.to_priority),
        actor=change.actor,
        cause_event_id=cause_event_id,
    )


def assigned_pb(
    conversation: Conversation, change: AssignmentChange, cause_event_id: str
) -> events_pb2.ConversationAssigned:
    return events_pb2.ConversationAssigned(
        conversation=f"conversations/{conversation.id}",
        customer=conversation.customer,
        assignee=change.assignee,
        assignee_group=change.assignee_group,
        previous_assignee=change.previous_assignee,
        actor=change.actor,
        cause_event_id=cause_event_id,
    )


def add_conversation_facts(
    event: events_pb2.MessageReceived, conversation: Conversation, label_names: tuple[str, ...]
) -> None:
    """message.received carries the conversation after the message (facts for rules)."""
    state = conversation.state
    event.status = status_to_pb(state.status)
    event.follow_ups = state.follow_ups
    event.assignee = conversation.assignee
    event.assignee_group = conversation.assignee_group
    event.owner = _owner("members", conversation.owner_member_id)
    event.department = _owner("departments", conversation.department_id)
    event.labels.extend(label_name(i) for i in conversation.labels)
    event.label_names.extend(label_names)
    event.priority = priority_to_pb(conversation.priority)
    if state.last_agent_reply_at is not None:
        event.last_agent_reply_time.CopyFrom(to_timestamp(state.last_agent_reply_at))
    if state.opened_at is not None:
        event.open_time.CopyFrom(to_timestamp(state.opened_at))
    if state.last_inbound_at is not None:
        event.receive_time.CopyFrom(to_timestamp(state.last_inbound_at))
