"""What a rule does when it fires: every action kind of core_loop §3.

Rules change no other service's data: each action becomes one ``rule.action.*``
event for the service that owns the data (customers or messaging), except the
webhook, which rules calls itself. ``action_to_json`` / ``action_from_json``
are how actions are stored (a rule's ``actions`` column and its versions).
Enum values are the lower-case names of the contract's enums ("high",
"in_progress", "return", "deal").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AddTag:
    tags: tuple[str, ...]  # labels (display names)


@dataclass(frozen=True)
class RemoveTag:
    tags: tuple[str, ...]


@dataclass(frozen=True)
class AdjustScore:
    delta: int
    reason: str = ""


@dataclass(frozen=True)
class SetLifecycleStage:
    stage: str  # "potential", "intent", "deal", "repeat", "dormant"


@dataclass(frozen=True)
class ReplyWithTemplate:
    template: str  # "replyTemplates/{id}"
    translate_to_customer_language: bool = True
    variables: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class AddNote:
    text: str


@dataclass(frozen=True)
class Assign:
    member: str = ""  # "members/{id}"
    group: str = ""  # "groups/{id}"
    strategy: str = ""  # "round_robin", "least_busy", ... ("" = the service's default)


@dataclass(frozen=True)
class Escalate:
    reason: str = ""
    member: str = ""
    group: str = ""
    priority: str = "high"


@dataclass(frozen=True)
class SetPriority:
    priority: str  # "low", "normal", "high", "urgent"


@dataclass(frozen=True)
class SetStatus:
    status: str  # "unread", "replied", "in_progress", "exception", "closed"


@dataclass(frozen=True)
class CreateCase:
    case_type: str  # "return", "exchange", "refund", "complaint"
    reason: str = ""
    priority: str = "normal"


@dataclass(frozen=True)
class Notify:
    members: tuple[str, ...] = ()
    notify_assignee: bool = False
    title: str = ""
    text: str = ""


@dataclass(frozen=True)
class CallWebhook:
    url: str


Action = (
    AddTag
    | RemoveTag
    | AdjustScore
    | SetLifecycleStage
    | ReplyWithTemplate
    | AddNote
    | Assign
    | Escalate
    | SetPriority
    | SetStatus
    | CreateCase
    | Notify
    | CallWebhook
)

# The stored (and API) name of each kind, as in crosstalk.rules.v1.Action's oneof.
KIND_OF: dict[type[Any], str] = {
    AddTag: "add_tag",
    RemoveTag: "remove_tag",
    AdjustScore: "adjust_score",
    SetLifecycleStage: "set_lifecycle_stage",
    ReplyWithTemplate: "reply_with_template",
    AddNote: "add_note",
    Assign: "assign",
    Escalate: "escalate",
    SetPriority: "set_priority",
    SetStatus: "set_status",
    CreateCase: "create_case",
    Notify: "notify",
    CallWebhook: "call_webhook",
}
_CLASS_OF = {kind: cls for cls, kind in KIND_OF.items()}

# The rule.action.* event type each kind is requested with, and who applies it.
EVENT_TYPE_OF: dict[type[Any], str] = {
    AddTag: "rule.action.tag",
    RemoveTag: "rule.action.untag",
    AdjustScore: "rule.action.score",
    SetLifecycleStage: "rule.action.stage",
    ReplyWithTemplate: "rule.action.reply",
    AddNote: "rule.action.note",
    Assign: "rule.action.assign",
    Escalate: "rule.action.escalate",
    SetPriority: "rule.action.priority",
    SetStatus: "rule.action.status",
    CreateCase: "rule.action.case",
    Notify: "rule.action.notify",
    CallWebhook: "rule.action.webhook",
}

# Actions on a conversation: pointless (skipped) for a trigger without one.
CONVERSATION_ACTIONS = (ReplyWithTemplate, AddNote, Assign, Escalate, SetPriority, SetStatus)


def kind_of(action: Action) -> str:
    return KIND_OF[type(action)]


def action_to_json(action: Action) -> dict[str, Any]:
    """``{"<kind>": {fields}}``, the stored form."""
    body: dict[str, Any] = {}
    for name, value in vars(action).items():
        if isinstance(value, tuple):
            body[name] = list(value)
        elif isinstance(value, Mapping):
            body[name] = dict(value)
        else:
            body[name] = value
    return {kind_of(action): body}


def action_from_json(data: Mapping[str, Any]) -> Action:
    ((kind, body),) = data.items()
    cls = _CLASS_OF[kind]
    values = {
        name: tuple(value) if isinstance(value, list) else value for name, value in body.items()
    }
    return cls(**values)  # type: ignore[no-any-return]


def actions_to_json(actions: tuple[Action, ...]) -> list[dict[str, Any]]:
    return [action_to_json(a) for a in actions]


def actions_from_json(data: list[dict[str, Any]]) -> tuple[Action, ...]:
    return tuple(action_from_json(item) for item in data)
