"""A conversation closed: its CSAT survey (when the tenant's send_csat_on_close says so)
and the message that sends the customer its link, on the conversation's channel, in their
language where messaging has the text (domain/csat_invitation.py).

The link goes out as any outbound message does: a QUEUED message and
message.delivery_requested, which the delivery worker sends through the channel adapter.
Sending it is not an agent's reply: the conversation stays CLOSED. Both run in the
consumer's transaction, with the survey and the inbox entry: a redelivered event finds its
inbox entry, and while a survey waits for its answer no second one (nor link) is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.app.conversation_ports import ConversationsRepository, CustomerSnapshotsRepository
from messaging.app.csat import CsatService
from messaging.app.reply_ports import RepliesRepository
from messaging.app.template_ports import TemplatesUnitOfWork
from messaging.domain.csat import CsatSurvey
from messaging.domain.csat_invitation import (
    SENT_BY,
    invitation,
    invitation_request_id,
    survey_link,
)
from messaging.domain.events import DeliveryRequested
from messaging.domain.language_tags import UNDETERMINED
from messaging.domain.model import DeliveryState, Direction, Message, Understanding


class CsatInvitationUnitOfWork(TemplatesUnitOfWork, Protocol):
    @property
    def conversations(self) -> ConversationsRepository: ...

    @property
    def customer_snapshots(self) -> CustomerSnapshotsRepository: ...

    @property
    def replies(self) -> RepliesRepository: ...


@dataclass(frozen=True)
class CsatOnClose:
    new_uow: UnitOfWorkFactory[CsatInvitationUnitOfWork]
    surveys: CsatService
    # Where the survey page lives: the link is {link_base}/{survey id}?token={token}.
    link_base: str
    clock: Callable[[], datetime] = utc_now

    async def on_conversation_closed(
        self, tenant_id: str, conversation_id: str, *, cause_event_id: str = ""
    ) -> tuple[CsatSurvey, Message | None] | None:
        """The survey sent and the message carrying its link (None when the customer is
        blacklisted or the conversation is gone); None when no survey was sent."""
        survey = await self.surveys.on_conversation_closed(tenant_id, conversation_id)
        if survey is None:
            return None
        async with self.new_uow() as uow:
            conversation = await uow.conversations.get(
                tenant_id, Visibility.everything(), conversation_id
            )
            snapshot = await uow.customer_snapshots.get(tenant_id, survey.customer)
            if conversation is None or (snapshot is not None and snapshot.blacklisted):
                return survey, None
            language = survey.language if survey.language != UNDETERMINED else ""
            link = survey_link(self.link_base, survey.id, self.surveys.token_for(survey))
            text, used = invitation(language or (snapshot.language if snapshot else ""), link)
            message = Message(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                conversation_id=conversation.id,
                customer=conversation.customer,
                sender=conversation.sender,
                direction=Direction.OUTBOUND,
                text=text,
                language=used,
                external_id="",
                created_at=self.clock(),
                understanding=Understanding(language=used),
                sent_by=SENT_BY,
                delivery_state=DeliveryState.QUEUED,
                request_id=invitation_request_id(tenant_id, survey.id),
                cause_event_id=cause_event_id,
            )
            if not await uow.replies.add_outbound(message):
                return survey, None  # sent before (the same survey)
            in_reply_to = await uow.replies.last_inbound_external_id(tenant_id, conversation.id)
            await uow.record(
                DeliveryRequested(
                    message,
                    channel_config=conversation.channel_config,
                    subject=conversation.subject,
                    in_reply_to=in_reply_to,
                )
            )
            await uow.commit()
        return survey, message
