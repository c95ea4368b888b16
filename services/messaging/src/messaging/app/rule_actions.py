"""Rule actions messaging applies (core_loop §3): reply with a template, note, assign,
escalate, set priority, set status, open a case, notify members.

Each action is applied at most once, keyed by its run and index (a redelivered or
re-published action event changes nothing and announces nothing), through the use case an
agent's request would go through, acting as the rule over the whole tenant. Its outcome
is recorded and announced with ``rule.action.completed``: SUCCEEDED with what it made,
SKIPPED when there is nothing to do (no conversation, the subject is gone, the customer
is blacklisted), FAILED with the reason a retry would not change. A peer that is down is
not an outcome: the error propagates, the consumer's transaction rolls back and the event
comes again.

In the consumer every unit of work joins the consumer's transaction, so the action's rows
and events, the ledger row and rule.action.completed commit with the inbox entry, or none.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.app.cases import Cases, NewCase
from messaging.app.conversation_ports import CustomerSnapshotsRepository
from messaging.app.conversations import ConversationService
from messaging.app.notification_ports import MemberContacts
from messaging.app.notifications import Notifications, NotifyRequest, notification_name
from messaging.app.templates import RenderRequest, TemplateRenderer, TemplateUser
from messaging.domain.cases import CaseType
from messaging.domain.conversation import Conversation, Priority
from messaging.domain.conversation_assignment import AssignStrategy
from messaging.domain.conversation_state import ConversationStatus
from messaging.domain.events import MessagingEvent, RuleActionCompleted
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
    RuleActionOutcome,
    RuleActionResult,
    StatusAction,
)

log = logging.getLogger(__name__)

# A rule acts on any conversation of its tenant, under its own name ("rules/{rule}").
_RULE_SCOPE = Visibility.everything()
_REPLY_IDS = uuid.UUID("6f1c1c52-5a9e-4a57-9d0e-2a4c0e6a1f00")


class RuleActionLedger(Protocol):
    async def get(self, key: RuleActionKey) -> RuleActionResult | None: ...

    async def add(
        self,
        key: RuleActionKey,
        *,
        rule: str,
        action_type: str,
        result: RuleActionResult,
        at: datetime,
    ) -> None: ...


class RuleActionsUnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def rule_actions(self) -> RuleActionLedger: ...

    @property
    def member_contacts(self) -> MemberContacts: ...

    @property
    def customer_snapshots(self) -> CustomerSnapshotsRepository: ...

    async def record(self, event: MessagingEvent) -> None: ...


class ReplySender(Protocol):
    """Sends a text on a conversation as a reply would (the replies area's use case)."""

    async def send_as_rule(
        self,
        tenant_id: str,
        conversation_id: str,
        *,
        text: str,
        language: str,
        template: str,
        sent_by: str,
        request_id: str,
        cause_event_id: str,
        template_version: int = 0,
    ) -> str:
        """The message's name ("conversations/{c}/messages/{m}")."""
        ...


class Skip(Exception):
    """Nothing to do; ``str()`` says why."""


def reply_request_id(key: RuleActionKey) -> str:
    """The request id a rule's reply is sent with: the same for every delivery of the action,
    so the reply itself is idempotent too."""
    return str(uuid.uuid5(_REPLY_IDS, f"{key.tenant_id}/{key.run}/{key.action_index}"))


@dataclass(frozen=True)
class RuleActions:
    new_uow: UnitOfWorkFactory[RuleActionsUnitOfWork]
    conversations: ConversationService
    cases: Cases
    notifications: Notifications
    renderer: TemplateRenderer
    # None until the replies area is wired: reply actions are then FAILED, saying so.
    replies: ReplySender | None = None
    clock: Callable[[], datetime] = utc_now

    async def apply(
        self, context: RuleActionContext, action: RuleAction
    ) -> RuleActionResult | None:
        """Applies the action once; None when it was applied before (nothing changes)."""
        async with self.new_uow() as uow:
            if await uow.rule_actions.get(context.key) is not None:
                return None
        try:
            result = await self._dispatch(context, action)
        except Skip as exc:
            result = RuleActionResult.skipped(str(exc))
        except NotFound as exc:
            result = RuleActionResult.skipped(exc.message)
        except FailedPrecondition as exc:
            if exc.reason == "CUSTOMER_BLACKLISTED":
                result = RuleActionResult.skipped(exc.message)
            else:
                result = RuleActionResult.failed(exc.message)
        except (InvalidArgument, AlreadyExists, PermissionDenied) as exc:
            result = RuleActionResult.failed(exc.message)
        await self._record(context, result)
        if result.outcome is not RuleActionOutcome.SUCCEEDED:
            log.info(
                "%s %s #%d: %s: %s",
                context.action_type,
                context.key.run,
                context.key.action_index,
                result.outcome.value,
                result.reason,
            )
        return result

    async def record_undecodable(self, context: RuleActionContext, reason: str) -> None:
        """An action event messaging cannot read: reported FAILED, once."""
        async with self.new_uow() as uow:
            if await uow.rule_actions.get(context.key) is not None:
                return
        await self._record(context, RuleActionResult.failed(reason))

    async def _record(self, context: RuleActionContext, result: RuleActionResult) -> None:
        async with self.new_uow() as uow:
            await uow.rule_actions.add(
                context.key,
                rule=context.rule,
                action_type=context.action_type,
                result=result,
                at=self.clock(),
            )
            await uow.record(
                RuleActionCompleted(context.key, context.rule, context.action_type, result)
            )
            await uow.commit()

    async def _dispatch(self, context: RuleActionContext, action: RuleAction) -> RuleActionResult:
        appliers: dict[
            type, Callable[[RuleActionContext, RuleAction], Awaitable[RuleActionResult]]
        ] = {
            ReplyAction: self._reply,  # type: ignore[dict-item]
            NoteAction: self._note,  # type: ignore[dict-item]
            AssignAction: self._assign,  # type: ignore[dict-item]
            EscalateAction: self._escalate,  # type: ignore[dict-item]
            PriorityAction: self._priority,  # type: ignore[dict-item]
            StatusAction: self._status,  # type: ignore[dict-item]
            CaseAction: self._case,  # type: ignore[dict-item]
            NotifyAction: self._notify,  # type: ignore[dict-item]
        }
        return await appliers[type(action)](context, action)

    # --- conversation actions ----------------------------------------------------------

    async def _conversation(self, context: RuleActionContext) -> Conversation:
        if not context.conversation_id:
            raise Skip("the trigger has no conversation")
        return await self.conversations.get(
            context.key.tenant_id, _RULE_SCOPE, context.conversation_id
        )

    async def _reply(self, context: RuleActionContext, action: ReplyAction) -> RuleActionResult:
        conversation = await self._conversation(context)
        tenant_id = context.key.tenant_id
        async with self.new_uow() as uow:
            snapshot = await uow.customer_snapshots.get(tenant_id, conversation.customer)
        if snapshot is not None and snapshot.blacklisted:
            raise Skip(f"{conversation.customer} is blacklisted: no automated reply")
        rendered = await self.renderer.render(
            TemplateUser(tenant_id, "", visibility=_RULE_SCOPE),
            RenderRequest(
                template_id=action.template_id,
                variables=dict(action.variables),
                customer=context.customer or conversation.customer,
                conversation_id=conversation.id,
                translate_if_missing=action.translate,
            ),
        )
        if self.replies is None:
            return RuleActionResult.failed(
                f"rendered replyTemplates/{action.template_id} v{rendered.template_version} in "
                f"{rendered.language or 'the default language'}, but sending replies is not "
                "wired in this messaging build"
            )
        message = await self.replies.send_as_rule(
            tenant_id,
            conversation.id,
            text=rendered.text,
            language=rendered.language,
            template=f"replyTemplates/{action.template_id}",
            template_version=rendered.template_version,
            sent_by=context.actor,
            request_id=reply_request_id(context.key),
            cause_event_id=context.cause_event_id,
        )
        return RuleActionResult.succeeded(message)

    async def _note(self, context: RuleActionContext, action: NoteAction) -> RuleActionResult:
        conversation = await self._conversation(context)
        note = await self.conversations.create_note(
            context.key.tenant_id, _RULE_SCOPE, conversation.id, action.text, context.actor
        )
        return RuleActionResult.succeeded(f"conversations/{conversation.id}/messages/{note.id}")

    async def _assign(self, context: RuleActionContext, action: AssignAction) -> RuleActionResult:
        conversation = await self._conversation(context)
        if not action.assignee and not action.assignee_group:
            raise InvalidArgument.field("assignee", "names neither a member nor a group")
        assigned = await self.conversations.assign(
            context.key.tenant_id,
            _RULE_SCOPE,
            conversation.id,
            assignee=action.assignee,
            assignee_group=action.assignee_group,
            strategy=_strategy(action.strategy),
            actor=context.actor,
            cause_event_id=context.cause_event_id,
        )
        return RuleActionResult.succeeded(assigned.assignee or assigned.assignee_group)

    async def _priority(
        self, context: RuleActionContext, action: PriorityAction
    ) -> RuleActionResult:
        conversation = await self._conversation(context)
        changed = await self.conversations.set_priority(
            context.key.tenant_id,
            _RULE_SCOPE,
            conversation.id,
            _priority(action.priority, field="priority"),
            context.actor,
            context.cause_event_id,
        )
        return RuleActionResult.succeeded(f"conversations/{changed.id}")

    async def _status(self, context: RuleActionContext, action: StatusAction) -> RuleActionResult:
        conversation = await self._conversation(context)
        try:
            status = ConversationStatus(action.status)
        except ValueError:
            raise InvalidArgument.field("status", f"{action.status!r} is not a status") from None
        changed = await self.conversations.set_status(
            context.key.tenant_id,
            _RULE_SCOPE,
            conversation.id,
            status,
            context.actor,
            context.cause_event_id,
        )
        return RuleActionResult.succeeded(f"conversations/{changed.id}")

    async def _escalate(
        self, context: RuleActionContext, action: EscalateAction
    ) -> RuleActionResult:
        """Raise the priority (to the action's, HIGH when it names none; never lower it),
        hand the conversation to the named member, else to the lead of the named group (or
        of the team that has the conversation), else to a member of the named group by
        round robin, set it EXCEPTION, and notify whoever has it."""
        conversation = await self._conversation(context)
        tenant_id, actor, cause = context.key.tenant_id, context.actor, context.cause_event_id
        wanted = _priority(action.priority, field="priority") if action.priority else Priority.HIGH
        if wanted > conversation.priority:
            conversation = await self.conversations.set_priority(
                tenant_id, _RULE_SCOPE, conversation.id, wanted, actor, cause
            )
        assignee, group = action.assignee, action.assignee_group
        # Up to the lead of the named group, else of the team that has the conversation.
        lead_group = group or conversation.assignee_group
        if not assignee and lead_group:
            async with self.new_uow() as uow:
                lead = await uow.member_contacts.lead_of(
                    tenant_id, lead_group.removeprefix("groups/")
                )
            if lead and f"members/{lead}" != conversation.assignee:
                assignee, group = f"members/{lead}", ""
        if assignee or group:
            conversation = await self.conversations.assign(
                tenant_id,
                _RULE_SCOPE,
                conversation.id,
                assignee=assignee,
                assignee_group=group,
                strategy=AssignStrategy.ROUND_ROBIN,
                actor=actor,
                cause_event_id=cause,
            )
        conversation = await self.conversations.set_status(
            tenant_id, _RULE_SCOPE, conversation.id, ConversationStatus.EXCEPTION, actor, cause
        )
        if conversation.assignee:
            await self.notifications.notify(
                tenant_id,
                NotifyRequest(
                    recipients=[conversation.assignee.removeprefix("members/")],
                    title=f"Escalated to you: {action.reason}"
                    if action.reason
                    else "Escalated to you",
                    text=action.reason,
                    source=actor,
                    conversation_id=conversation.id,
                    customer=conversation.customer,
                ),
            )
        return RuleActionResult.succeeded(f"conversations/{conversation.id}")

    # --- cases and notifications -------------------------------------------------------

    async def _case(self, context: RuleActionContext, action: CaseAction) -> RuleActionResult:
        try:
            case_type = CaseType(action.case_type)
        except ValueError:
            raise InvalidArgument.field("case_type", "is required: which kind of case") from None
        customer = context.customer
        if not customer and not context.conversation_id:
            raise Skip("the trigger names neither a customer nor a conversation")
        case = await self.cases.open(
            context.key.tenant_id,
            _RULE_SCOPE,
            NewCase(
                case_type,
                customer=customer,
                conversation_id=context.conversation_id,
                order_external_id=action.order_external_id,
                reason=action.reason,
                priority=_case_priority(action.priority),
            ),
            actor=context.actor,
            request_id=f"rule:{context.key.run}:{context.key.action_index}",
            cause_event_id=context.cause_event_id,
            conversation_required=False,
        )
        return RuleActionResult.succeeded(f"cases/{case.id}")

    async def _notify(self, context: RuleActionContext, action: NotifyAction) -> RuleActionResult:
        recipients = list(action.members)
        conversation: Conversation | None = None
        if action.notify_assignee:
            conversation = await self._conversation(context)
            whom = conversation.assignee.removeprefix("members/") or conversation.owner_member_id
            if whom:
                recipients.append(whom)
        if not recipients:
            raise Skip("nobody to notify: no members named and the conversation has no assignee")
        made = await self.notifications.notify(
            context.key.tenant_id,
            NotifyRequest(
                recipients=recipients,
                title=action.title,
                text=action.text,
                source=context.actor,
                conversation_id=context.conversation_id,
                customer=context.customer or (conversation.customer if conversation else ""),
            ),
        )
        return RuleActionResult.succeeded(notification_name(made[0].id))


def _strategy(value: str) -> AssignStrategy:
    try:
        return AssignStrategy(value or AssignStrategy.ROUND_ROBIN.value)
    except ValueError:
        raise InvalidArgument.field("strategy", f"{value!r} is not a strategy") from None


def _priority(value: int, *, field: str) -> Priority:
    if not value:
        raise InvalidArgument.field(field, "is required: LOW, NORMAL, HIGH or URGENT")
    try:
        return Priority(value)
    except ValueError:
        raise InvalidArgument.field(field, f"{value} is not a priority") from None


def _case_priority(value: int) -> Priority:
    return _priority(value, field="priority") if value else Priority.NORMAL
