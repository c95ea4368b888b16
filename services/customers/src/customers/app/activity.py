"""What customers do elsewhere (messages in messaging) lands on their timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.ports import UnitOfWork
from customers.domain.model import TimelineEntry

MAX_SUMMARY = 200


@dataclass(frozen=True)
class ReceivedMessage:
    """A message a customer sent (messaging's message.received)."""

    tenant_id: str
    customer_id: str
    event_id: str
    occurred_at: datetime
    text: str
    message: str  # its resource name
    details: dict[str, Any]

    def timeline_entry(self) -> TimelineEntry:
        one_line = " ".join(self.text.split())
        if len(one_line) > MAX_SUMMARY:
            one_line = one_line[: MAX_SUMMARY - 1] + "…"
        return TimelineEntry(
            event_id=self.event_id,
            tenant_id=self.tenant_id,
            customer_id=self.customer_id,
            type="message.received",
            occurred_at=self.occurred_at,
            summary=f"Message: {one_line}",
            actor=f"customers/{self.customer_id}",
            resource=self.message,
            details=self.details,
        )


@dataclass(frozen=True)
class CustomerActivity:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def messages_received(self, messages: Sequence[ReceivedMessage]) -> int:
        """Marks each message's customer active (as of its latest message) and adds
        the messages to their timelines, all in one unit of work.

        A customer that no longer exists is passed over (nothing written for it).
        Returns how many messages joined a timeline.
        """
        latest: dict[tuple[str, str], datetime] = {}
        for m in messages:
            key = (m.tenant_id, m.customer_id)
            if key not in latest or latest[key] < m.occurred_at:
                latest[key] = m.occurred_at
        async with self.new_uow() as uow:
            present = await uow.customers.mark_active(latest)
            entries = [
                m.timeline_entry() for m in messages if (m.tenant_id, m.customer_id) in present
            ]
            await uow.customers.add_timeline_entries(entries)
            await uow.commit()
        return len(entries)
