"""What messaging announces to other services, as the domain sees it.

The adapters turn these into the events of the contract (``conversation.created``,
``message.received``); the app layer never builds a proto.
"""

from __future__ import annotations

from dataclasses import dataclass

from messaging.domain.cases import Case, CaseTransition
from messaging.domain.conversation import AssignmentChange, Conversation, PriorityChange
from messaging.domain.conversation_state import StatusChange
from messaging.domain.csat import CsatSurvey
from messaging.domain.model import Message, Sender, TranslationCheck
from messaging.domain.rule_actions import RuleActionKey, RuleActionResult


@dataclass(frozen=True)
class ConversationOpened:
    """A customer's first message on a channel opened a conversation."""

    first_message: Message
    # The channel account it came through ("channelConfigs/{id}"), when known.
    channel_config: str = ""


@dataclass(frozen=True)
class MessageReceived:
    """An inbound message was stored (with what translation made of it)."""

    message: Message
    # The conversation after the message, and its labels' display names (in the order of
    # conversation.labels): the facts rules see. None only in tests of older callers.
    conversation: Conversation | None = None
    label_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConversationStatusChanged:
    """conversation.status_changed: by an inbound message, a reply or an agent."""

    conversation: Conversation
    change: StatusChange
    cause_event_id: str = ""


@dataclass(frozen=True)
class ConversationPriorityChanged:
    conversation: Conversation
    change: PriorityChange
    cause_event_id: str = ""


@dataclass(frozen=True)
class ConversationAssigned:
    conversation: Conversation
    change: AssignmentChange
    cause_event_id: str = ""


@dataclass(frozen=True)
class CaseOpened:
    """An after-sales case was opened (case.opened); ``actor`` is who opened it."""

    case: Case
    actor: str
    cause_event_id: str = ""


@dataclass(frozen=True)
class CaseTransitioned:
    """A case moved along its type's machine (case.transitioned); ``case`` as it is now."""

    case: Case
    transition: CaseTransition


@dataclass(frozen=True)
class CsatSubmitted:
    """The customer answered a satisfaction survey (csat.submitted); ``survey`` as answered."""

    survey: CsatSurvey


@dataclass(frozen=True)
class RuleActionCompleted:
    """Messaging applied (or could not apply) a rule action (rule.action.completed)."""

    key: RuleActionKey
    rule: str
    action_type: str
    result: RuleActionResult


@dataclass(frozen=True)
class DeliveryRequested:
    """An outbound message (reply, confirmed draft, proactive message) is queued for its
    channel (message.delivery_requested); the channel adapter sends it."""

    message: Message
    channel_config: str = ""
    subject: str = ""
    in_reply_to: str = ""


@dataclass(frozen=True)
class MessageSent:
    """The channel took an outbound message (message.sent), with its translation details."""

    tenant_id: str
    message_id: str
    conversation_id: str
    customer: str
    recipient: Sender
    text: str  # as its author wrote it
    language: str
    translated_text: str  # what the customer received, if translated
    translated_language: str
    sent_by: str
    template: str = ""
    cause_event_id: str = ""
    # How the translation was checked (back translation, similarity); None: sent as written.
    translation_check: TranslationCheck | None = None


@dataclass(frozen=True)
class MessageDeliveryFailed:
    """An outbound message could not be delivered (message.delivery_failed)."""

    tenant_id: str
    message_id: str
    conversation_id: str
    customer: str
    reason: str
    attempts: int


MessagingEvent = (
    ConversationOpened
    | MessageReceived
    | CaseOpened
    | CaseTransitioned
    | RuleActionCompleted
    | DeliveryRequested
    | MessageSent
    | MessageDeliveryFailed
    | ConversationStatusChanged
    | ConversationPriorityChanged
    | ConversationAssigned
    | CsatSubmitted
)
