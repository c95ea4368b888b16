"""Events messaging reacts to, each mapped to the use case it runs: the rule actions
messaging applies (core_loop §3) and the member contacts notifications need.

(The conversations area's projections are in ``conversation_consumers.py``, the delivery
requests in ``delivery_consumer.py``.) bootstrap runs each handler through
``in_unit_of_work``: the use case's units of work join the consumer's transaction, which
also records the event in the inbox, so what an action changed, its ledger row and
rule.action.completed commit with the inbox entry, or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from google.protobuf.message import Message as ProtoMessage

from crosstalk.common.v1 import assignment_pb2
from crosstalk.events.v1 import identity_events_pb2, rule_events_pb2
from crosstalk.messaging.v1 import cases_pb2, resources_pb2
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.app.notification_ports import NotificationsUnitOfWork
from messaging.app.notifications import (
    Notifications,
    NotifyRequest,
    disable_member_contact,
    forget_member_contact,
    keep_member_contact,
)
from messaging.app.rule_actions import RuleActions
from messaging.domain.notifications import MemberContact
from messaging.domain.rule_actions import (
    AssignAction,
    CaseAction,
    EscalateAction,
    NoteAction,
    NotifyAction,
    PriorityAction,
    ReplyAction,
    RuleAction,
    RuleActionContext,
    RuleActionKey,
    StatusAction,
)

W = TypeVar("W")

RULE_ACTION_TYPES = (
    "rule.action.reply",
    "rule.action.note",
    "rule.action.assign",
    "rule.action.escalate",
    "rule.action.priority",
    "rule.action.status",
    "rule.action.case",
    "rule.action.notify",
)
RULE_ACTIONS = Subscription(
    durable="messaging-rule-actions", producer="rules", event_types=list(RULE_ACTION_TYPES)
)
RULE_DISABLED = Subscription(
    durable="messaging-rule-disabled", producer="rules", event_types=["rule.disabled"]
)
MEMBER_CONTACTS = Subscription(
    durable="messaging-member-contacts",
    producer="identity",
    event_types=["member.created", "member.updated", "member.disabled", "member.deleted"],
)


def _id(name: str, collection: str) -> str:
    prefix = f"{collection}/"
    return name[len(prefix) :] if name.startswith(prefix) else ""


def _lower_name(enum_name: str, prefix: str) -> str:
    return enum_name.removeprefix(prefix).lower()


def _status(value: int) -> str:
    if value == resources_pb2.CONVERSATION_STATUS_UNSPECIFIED:
        return ""
    return _lower_name(resources_pb2.ConversationStatus.Name(value), "CONVERSATION_STATUS_")  # type: ignore[arg-type]


def _strategy(value: int) -> str:
    if value == assignment_pb2.ASSIGN_STRATEGY_UNSPECIFIED:
        return ""
    return _lower_name(assignment_pb2.AssignStrategy.Name(value), "ASSIGN_STRATEGY_")  # type: ignore[arg-type]


def _case_type(value: int) -> str:
    if value == cases_pb2.CASE_TYPE_UNSPECIFIED:
        return ""
    return _lower_name(cases_pb2.CaseType.Name(value), "CASE_TYPE_")  # type: ignore[arg-type]


def _priority(value: int) -> int:
    """crosstalk.common.v1.Priority's number; 0 when unset (each action has its default)."""
    return value


def rule_action_of(payload: ProtoMessage) -> RuleAction:
    """The action a rule.action.* payload asks for (enum values as the domain spells them)."""
    p = payload
    if isinstance(p, rule_events_pb2.RuleActionReplyRequested):
        return ReplyAction(
            _id(p.template, "replyTemplates"),
            p.translate_to_customer_language,
            tuple(sorted(p.variables.items())),
        )
    if isinstance(p, rule_events_pb2.RuleActionNoteRequested):
        return NoteAction(p.text)
    if isinstance(p, rule_events_pb2.RuleActionAssignRequested):
        return AssignAction(p.assignee, p.assignee_group, _strategy(p.strategy))
    if isinstance(p, rule_events_pb2.RuleActionEscalateRequested):
        return EscalateAction(p.reason, p.assignee, p.assignee_group, _priority(p.priority))
    if isinstance(p, rule_events_pb2.RuleActionPriorityRequested):
        return PriorityAction(_priority(p.priority))
    if isinstance(p, rule_events_pb2.RuleActionStatusRequested):
        return StatusAction(_status(p.status))
    if isinstance(p, rule_events_pb2.RuleActionCaseRequested):
        return CaseAction(
            _case_type(p.case_type), p.reason, p.order_external_id, _priority(p.priority)
        )
    if isinstance(p, rule_events_pb2.RuleActionNotifyRequested):
        members = tuple(m for m in (_id(name, "members") for name in p.members) if m)
        return NotifyAction(members, p.notify_assignee, p.title, p.text)
    raise TypeError(f"not a messaging rule action: {type(p).__name__}")


def rule_action_context(event: Event) -> RuleActionContext:
    p = event.payload
    conversation = getattr(p, "conversation", "")
    return RuleActionContext(
        key=RuleActionKey(event.tenant_id, getattr(p, "run", ""), getattr(p, "action_index", 0)),
        rule=getattr(p, "rule", ""),
        action_type=event.type,
        cause_event_id=event.event_id,
        customer=getattr(p, "customer", ""),
        conversation_id=_id(conversation, "conversations"),
    )


ActingFor = Callable[[str], AbstractAsyncContextManager[None]]


def on_rule_action(
    actions_of: Callable[[UnitOfWorkFactory[W]], RuleActions],
    acting_for: ActingFor | None = None,
) -> Callable[[UnitOfWorkFactory[W], Event], Awaitable[None]]:
    """rule.action.*: the action applied once through RuleActions, whose use cases run in
    the consumer's transaction (``actions_of`` builds them over its units of work).

    A reply asks peers (customers for the template's facts, translation for a missing
    language), which need a caller: it runs as ``acting_for(tenant)``, messaging's own
    service token for the event's tenant (adapters/service_identity.py); the other
    actions need no peer and no token."""

    async def handle(new_uow: UnitOfWorkFactory[W], event: Event) -> None:
        context = rule_action_context(event)
        actions = actions_of(new_uow)
        if not context.key.run:
            await actions.record_undecodable(context, "the action event names no run")
            return
        action = rule_action_of(event.payload)
        if acting_for is not None and isinstance(action, ReplyAction):
            async with acting_for(event.tenant_id):
                await actions.apply(context, action)
        else:
            await actions.apply(context, action)

    return handle


def on_rule_disabled(
    *, email_enabled: bool
) -> Callable[[UnitOfWorkFactory[NotificationsUnitOfWork], Event], Awaitable[None]]:
    """rule.disabled: the rule's owners are notified (in-app, and by e-mail when SMTP is
    configured) that rules switched it off after its actions kept failing."""

    async def handle(new_uow: UnitOfWorkFactory[NotificationsUnitOfWork], event: Event) -> None:
        p = event.payload
        if not isinstance(p, rule_events_pb2.RuleDisabled):
            return
        owners = [m for m in (_id(name, "members") for name in p.owners) if m]
        if not owners:
            return
        failures = (
            f"{p.consecutive_failures} failed actions in a row" if p.consecutive_failures else ""
        )
        text = "; ".join(
            part
            for part in (
                f"{p.rule} (version {p.rule_version}) was disabled ({p.reason or 'by rules'})",
                failures,
                f"last error: {p.last_error}" if p.last_error else "",
            )
            if part
        )
        await Notifications(new_uow, email_enabled=email_enabled).notify(
            event.tenant_id,
            NotifyRequest(
                recipients=owners,
                title=f"Rule disabled: {p.display_name or p.rule}",
                text=text,
                source=p.rule or "rules",
            ),
        )

    return handle


def contact_of(
    payload: identity_events_pb2.MemberCreated | identity_events_pb2.MemberUpdated,
) -> MemberContact:
    return MemberContact(
        member=_id(payload.member, "members"),
        email=payload.email,
        display_name=payload.display_name,
        enabled=payload.enabled,
        led_groups=frozenset(g for g in (_id(n, "groups") for n in payload.led_groups) if g),
    )


async def on_member_contact(
    new_uow: UnitOfWorkFactory[NotificationsUnitOfWork], event: Event
) -> None:
    """member.created/updated: keep the member's address and led groups; disabled: no
    e-mails; deleted: forgotten."""
    payload = event.payload
    tenant_id = event.tenant_id
    if isinstance(payload, identity_events_pb2.MemberCreated | identity_events_pb2.MemberUpdated):
        contact = contact_of(payload)
        if contact.member:
            await keep_member_contact(new_uow, tenant_id, contact, utc_now())
    elif isinstance(payload, identity_events_pb2.MemberDisabled):
        await disable_member_contact(new_uow, tenant_id, _id(payload.member, "members"), utc_now())
    elif isinstance(payload, identity_events_pb2.MemberDeleted):
        await forget_member_contact(new_uow, tenant_id, _id(payload.member, "members"))
