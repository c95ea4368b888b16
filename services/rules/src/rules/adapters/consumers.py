"""Events rules reacts to."""

from __future__ import annotations

from google.protobuf.message import Message
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk.common.v1 import channel_pb2, text_analysis_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.db.outbox import stage_event
from rules.adapters.repository import SqlRulesRepository
from rules.app.use_cases import run_rules
from rules.domain.model import Trigger

MESSAGES = Subscription(
    durable="rules-messages", producer="messaging", event_types=["message.received"]
)


def message_facts(message: messaging_events_pb2.MessageReceived) -> dict[str, object]:
    channel = channel_pb2.Channel.Name(message.sender.channel).removeprefix("CHANNEL_").lower()
    scored = (
        message.HasField("sentiment")
        and message.sentiment.label != text_analysis_pb2.SENTIMENT_LABEL_UNSPECIFIED
    )
    return {
        "text": message.text,
        "language": message.language,
        "channel": channel,
        "store": message.sender.store,
        "translated_text": message.translated_text,
        "sentiment": message.sentiment.score if scored else None,
        "intents": frozenset(i.intent for i in message.intents),
    }


class MessageEventHandler:
    def __init__(self, outbox: Table) -> None:
        self._outbox = outbox

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        message = event.payload
        if not isinstance(message, messaging_events_pb2.MessageReceived):
            return

        async def emit(tenant_id: str, payload: Message) -> str:
            return await stage_event(session, self._outbox, tenant_id, payload)

        await run_rules(
            SqlRulesRepository(session),
            emit,
            tenant_id=event.tenant_id,
            trigger=Trigger.MESSAGE_RECEIVED,
            trigger_event_id=event.event_id,
            customer=message.customer,
            facts=message_facts(message),
        )
