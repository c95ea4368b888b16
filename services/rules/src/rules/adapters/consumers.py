"""Events rules reacts to, each mapped to the use case it runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.adapters.mapping import message_received
from rules.app.enabled_rules import EnabledRules
from rules.app.ports import UnitOfWork
from rules.app.running import run_rules

MESSAGES = Subscription(
    durable="rules-messages", producer="messaging", event_types=["message.received"]
)


def on_message(
    enabled_rules: EnabledRules,
) -> Callable[[UnitOfWorkFactory[UnitOfWork], Event], Awaitable[None]]:
    """message.received: the tenant's message rules run on it (kept parsed in
    ``enabled_rules`` between events)."""

    async def handle(new_uow: UnitOfWorkFactory[UnitOfWork], event: Event) -> None:
        if isinstance(event.payload, messaging_events_pb2.MessageReceived):
            await run_rules(new_uow, message_received(event, event.payload), enabled_rules)

    return handle
