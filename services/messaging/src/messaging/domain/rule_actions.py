"""Rule actions messaging applies (core_loop §3): how each one ended.

A rule action is named by its run and its index in the run (``action_index``);
messaging applies each at most once and reports the outcome with
``rule.action.completed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RuleActionOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Nothing to do: already applied, the subject is gone, blacklisted ...
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RuleActionKey:
    """Names one action of one rule run."""

    tenant_id: str
    run: str  # "rules/{rule}/runs/{run}" or the run's id, as rules sends it
    action_index: int


@dataclass(frozen=True)
class RuleActionResult:
    """How applying one action ended; ``result`` names what it made
    (``conversations/{c}/messages/{m}``, ``cases/{id}`` ...)."""

    outcome: RuleActionOutcome
    reason: str = ""
    result: str = ""

    @classmethod
    def succeeded(cls, result: str = "") -> RuleActionResult:
        return cls(RuleActionOutcome.SUCCEEDED, "", result)

    @classmethod
    def failed(cls, reason: str) -> RuleActionResult:
        return cls(RuleActionOutcome.FAILED, reason)

    @classmethod
    def skipped(cls, reason: str) -> RuleActionResult:
        return cls(RuleActionOutcome.SKIPPED, reason)


# --- what each action asks (decoded from its rule.action.* event) ----------------------


@dataclass(frozen=True)
class RuleActionContext:
    """Where an action comes from and what it is about."""

    key: RuleActionKey
    rule: str  # "rules/{rule}"
    action_type: str  # "rule.action.reply" ...
    cause_event_id: str
    customer: str = ""  # "customers/{id}"
    conversation_id: str = ""

    @property
    def actor(self) -> str:
        return self.rule or "rules"


@dataclass(frozen=True)
class ReplyAction:
    template_id: str
    translate: bool
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NoteAction:
    text: str


@dataclass(frozen=True)
class AssignAction:
    assignee: str  # "members/{id}" or ""
    assignee_group: str  # "groups/{id}" or ""
    strategy: str  # AssignStrategy's value ("round_robin" ...)


@dataclass(frozen=True)
class EscalateAction:
    reason: str
    assignee: str  # "members/{id}" or ""
    assignee_group: str  # "groups/{id}" or ""
    priority: int  # crosstalk.common.v1.Priority's number; 0: HIGH


@dataclass(frozen=True)
class PriorityAction:
    priority: int  # 1 low .. 4 urgent


@dataclass(frozen=True)
class StatusAction:
    status: str  # ConversationStatus's value ("in_progress" ...)


@dataclass(frozen=True)
class CaseAction:
    case_type: str  # CaseType's value ("return" ...)
    reason: str
    order_external_id: str
    priority: int  # 0: normal


@dataclass(frozen=True)
class NotifyAction:
    members: tuple[str, ...]  # member ids
    notify_assignee: bool
    title: str
    text: str


RuleAction = (
    ReplyAction
    | NoteAction
    | AssignAction
    | EscalateAction
    | PriorityAction
    | StatusAction
    | CaseAction
    | NotifyAction
)
