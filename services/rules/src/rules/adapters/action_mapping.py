"""A rule's actions: ``crosstalk.rules.v1.Action`` <-> ``rules.domain.actions``.

Enum values travel as the lower-case suffix of the proto enum's name
(``PRIORITY_HIGH`` -> ``"high"``), which is what the domain stores.
"""

from __future__ import annotations

from typing import Any

from crosstalk.common.v1 import assignment_pb2, lifecycle_stage_pb2, priority_pb2
from crosstalk.messaging.v1 import cases_pb2
from crosstalk.messaging.v1 import resources_pb2 as messaging_pb2
from crosstalk.rules.v1 import resources_pb2
from crosstalk_common.errors import FieldViolation
from rules.domain.actions import (
    Action,
    AddNote,
    AddTag,
    AdjustScore,
    Assign,
    CallWebhook,
    CreateCase,
    Escalate,
    Notify,
    RemoveTag,
    ReplyWithTemplate,
    SetLifecycleStage,
    SetPriority,
    SetStatus,
)


def _enum_value(wrapper: Any, prefix: str, number: int) -> str:
    """``PRIORITY_HIGH`` (3) -> ``"high"``; ``""`` for unspecified or unknown."""
    try:
        name = wrapper.Name(number)
    except ValueError:
        return ""
    value = name.removeprefix(prefix).lower()
    return "" if value == "unspecified" else value


def _enum_number(wrapper: Any, prefix: str, value: str) -> int:
    if not value:
        return 0
    return int(wrapper.Value(prefix + value.upper()))


_PRIORITY = (priority_pb2.Priority, "PRIORITY_")
_STAGE = (lifecycle_stage_pb2.LifecycleStage, "LIFECYCLE_STAGE_")
_STATUS = (messaging_pb2.ConversationStatus, "CONVERSATION_STATUS_")
_CASE_TYPE = (cases_pb2.CaseType, "CASE_TYPE_")
_STRATEGY = (assignment_pb2.AssignStrategy, "ASSIGN_STRATEGY_")


def priority_value(number: int) -> str:
    return _enum_value(*_PRIORITY, number)


def priority_number(value: str) -> int:
    return _enum_number(*_PRIORITY, value)


def stage_number(value: str) -> int:
    return _enum_number(*_STAGE, value)


def status_number(value: str) -> int:
    return _enum_number(*_STATUS, value)


def case_type_number(value: str) -> int:
    return _enum_number(*_CASE_TYPE, value)


def strategy_number(value: str) -> int:
    return _enum_number(*_STRATEGY, value)


def action_from_pb(pb: resources_pb2.Action, path: str) -> Action | FieldViolation:
    """The domain action, or the violation naming what is missing (``path`` is
    ``rule.actions[i]``). Checks of content beyond the shape are the rule's
    validation's."""
    kind = pb.WhichOneof("kind")
    if kind == "add_tag":
        return AddTag(tuple(t.strip() for t in pb.add_tag.tags))
    if kind == "remove_tag":
        return RemoveTag(tuple(t.strip() for t in pb.remove_tag.tags))
    if kind == "adjust_score":
        return AdjustScore(pb.adjust_score.delta, pb.adjust_score.reason)
    if kind == "set_lifecycle_stage":
        stage = _enum_value(*_STAGE, pb.set_lifecycle_stage.stage)
        if not stage:
            return FieldViolation(f"{path}.set_lifecycle_stage.stage", "choose a stage")
        return SetLifecycleStage(stage)
    if kind == "reply_with_template":
        reply = pb.reply_with_template
        return ReplyWithTemplate(
            reply.template, reply.translate_to_customer_language, dict(reply.variables)
        )
    if kind == "add_note":
        return AddNote(pb.add_note.text)
    if kind == "assign":
        assign = pb.assign
        return Assign(assign.member, assign.group, _enum_value(*_STRATEGY, assign.strategy))
    if kind == "escalate":
        esc = pb.escalate
        return Escalate(
            esc.reason, esc.member, esc.group, _enum_value(*_PRIORITY, esc.priority) or "high"
        )
    if kind == "set_priority":
        priority = _enum_value(*_PRIORITY, pb.set_priority.priority)
        if not priority:
            return FieldViolation(f"{path}.set_priority.priority", "choose a priority")
        return SetPriority(priority)
    if kind == "set_status":
        status = _enum_value(*_STATUS, pb.set_status.status)
        if not status:
            return FieldViolation(f"{path}.set_status.status", "choose a status")
        return SetStatus(status)
    if kind == "create_case":
        case = pb.create_case
        case_type = _enum_value(*_CASE_TYPE, case.case_type)
        if not case_type:
            return FieldViolation(f"{path}.create_case.case_type", "choose a case type")
        return CreateCase(
            case_type, case.reason, _enum_value(*_PRIORITY, case.priority) or "normal"
        )
    if kind == "notify":
        n = pb.notify
        return Notify(tuple(n.members), n.notify_assignee, n.title, n.text)
    if kind == "call_webhook":
        return CallWebhook(pb.call_webhook.url.strip())
    return FieldViolation(path, "set one action kind, e.g. add_tag")


def action_to_pb(action: Action) -> resources_pb2.Action:
    pb = resources_pb2.Action()
    if isinstance(action, AddTag):
        pb.add_tag.tags.extend(action.tags)
    elif isinstance(action, RemoveTag):
        pb.remove_tag.tags.extend(action.tags)
    elif isinstance(action, AdjustScore):
        pb.adjust_score.delta, pb.adjust_score.reason = action.delta, action.reason
    elif isinstance(action, SetLifecycleStage):
        pb.set_lifecycle_stage.stage = stage_number(action.stage)  # type: ignore[assignment]
    elif isinstance(action, ReplyWithTemplate):
        pb.reply_with_template.template = action.template
        pb.reply_with_template.translate_to_customer_language = (
            action.translate_to_customer_language
        )
        pb.reply_with_template.variables.update(action.variables)
    elif isinstance(action, AddNote):
        pb.add_note.text = action.text
    elif isinstance(action, Assign):
        if action.member:
            pb.assign.member = action.member
        elif action.group:
            pb.assign.group = action.group
        pb.assign.strategy = strategy_number(action.strategy)  # type: ignore[assignment]
    elif isinstance(action, Escalate):
        pb.escalate.reason = action.reason
        if action.member:
            pb.escalate.member = action.member
        elif action.group:
            pb.escalate.group = action.group
        pb.escalate.priority = priority_number(action.priority)  # type: ignore[assignment]
    elif isinstance(action, SetPriority):
        pb.set_priority.priority = priority_number(action.priority)  # type: ignore[assignment]
    elif isinstance(action, SetStatus):
        pb.set_status.status = status_number(action.status)  # type: ignore[assignment]
    elif isinstance(action, CreateCase):
        pb.create_case.case_type = case_type_number(action.case_type)  # type: ignore[assignment]
        pb.create_case.reason = action.reason
        pb.create_case.priority = priority_number(action.priority)  # type: ignore[assignment]
    elif isinstance(action, Notify):
        pb.notify.members.extend(action.members)
        pb.notify.notify_assignee = action.notify_assignee
        pb.notify.title, pb.notify.text = action.title, action.text
    elif isinstance(action, CallWebhook):
        pb.call_webhook.url = action.url
    return pb
