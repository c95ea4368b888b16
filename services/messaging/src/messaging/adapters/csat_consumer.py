"""conversation.status_changed to CLOSED -> a CSAT survey and the message sending its
link, when the tenant's messaging settings say so (send_csat_on_close). The use case runs
in the consumer's transaction (``in_unit_of_work``): the survey, the message, its
delivery request and the inbox entry commit together, so a redelivered event sends no
second survey or link."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crosstalk.events.v1 import messaging_events_pb2
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.app.csat_invitations import CsatInvitationUnitOfWork, CsatOnClose

CLOSED_CONVERSATIONS = Subscription(
    durable="messaging-csat-on-close",
    producer="messaging",
    event_types=["conversation.status_changed"],
)

Handle = Callable[[UnitOfWorkFactory[CsatInvitationUnitOfWork], Event], Awaitable[None]]


def on_status_changed(
    on_close: Callable[[UnitOfWorkFactory[CsatInvitationUnitOfWork]], CsatOnClose],
) -> Handle:
    """``on_close(new_uow)`` builds the use case over the consumer's unit of work."""

    async def handle(new_uow: UnitOfWorkFactory[CsatInvitationUnitOfWork], event: Event) -> None:
        payload = event.payload
        if not isinstance(payload, messaging_events_pb2.ConversationStatusChanged):
            return
        if payload.to_status != resources_pb2.CONVERSATION_STATUS_CLOSED:
            return
        conversation_id = payload.conversation.removeprefix("conversations/")
        await on_close(new_uow).on_conversation_closed(
            event.tenant_id, conversation_id, cause_event_id=event.event_id
        )

    return handle
