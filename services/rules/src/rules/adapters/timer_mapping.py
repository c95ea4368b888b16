"""Which events start or end a time trigger's wait (domain/timers.py signals).

- message.received: the customer waits (no-reply timers armed);
- conversation.status_changed to REPLIED or CLOSED: the wait ends;
- case.opened: a case-open wait starts; case.transitioned to a final state
  (CLOSED, CANCELLED): it ends.
"""

from __future__ import annotations

from crosstalk.events.v1 import messaging_events_pb2 as messaging_pb
from crosstalk.messaging.v1 import cases_pb2
from crosstalk.messaging.v1 import resources_pb2 as messaging_resources
from crosstalk_common.bus.envelope import Event
from crosstalk_common.clock import as_utc, utc_now
from rules.adapters.engine_mapping import occurrence_of
from rules.domain.timers import (
    CaseEnded,
    CaseOpened,
    ConversationAnswered,
    CustomerWaiting,
    TimerSignal,
)

_ANSWERED = frozenset(
    {
        messaging_resources.CONVERSATION_STATUS_REPLIED,
        messaging_resources.CONVERSATION_STATUS_CLOSED,
    }
)
_FINAL_CASE_STATES = frozenset({cases_pb2.CASE_STATE_CLOSED, cases_pb2.CASE_STATE_CANCELLED})


def timer_signal_of(event: Event) -> TimerSignal | None:
    p = event.payload
    occurred = (
        as_utc(event.envelope.occurred_time.ToDatetime())
        if event.envelope.HasField("occurred_time")
        else utc_now()
    )
    if isinstance(p, messaging_pb.MessageReceived):
        return CustomerWaiting(
            conversation=p.conversation,
            customer=p.customer,
            last_agent_reply=(
                as_utc(p.last_agent_reply_time.ToDatetime())
                if p.HasField("last_agent_reply_time")
                else None
            ),
            received_at=(
                as_utc(p.receive_time.ToDatetime()) if p.HasField("receive_time") else occurred
            ),
        )
    if isinstance(p, messaging_pb.ConversationStatusChanged):
        return ConversationAnswered(p.conversation) if p.to_status in _ANSWERED else None
    if isinstance(p, messaging_pb.CaseOpened):
        occurrence = occurrence_of(event)
        facts = dict(occurrence.facts) if occurrence is not None else {}
        facts.pop("case.age_hours", None)
        return CaseOpened(
            case=p.case,
            customer=p.customer,
            conversation=p.conversation,
            opened_at=as_utc(p.open_time.ToDatetime()) if p.HasField("open_time") else occurred,
            facts=facts,
        )
    if isinstance(p, messaging_pb.CaseTransitioned):
        return CaseEnded(p.case) if p.to_state in _FINAL_CASE_STATES else None
    return None
