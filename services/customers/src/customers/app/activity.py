"""What customers do elsewhere (messages in messaging) lands on their timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.ports import UnitOfWork
from customers.domain.model import TimelineEntry

MAX_SUMMARY = 200


@dataclass(frozen=True)
class CustomerActivity:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def message_received(
        self,
        tenant_id: str,
        customer_id: str,
        *,
        event_id: str,
        occurred_at: datetime,
        text: str,
        message: str,
        details: dict[str, Any],
    ) -> bool:
        """Marks the customer active and adds the message to their timeline.

        False when the customer no longer exists (nothing is written).
        """
        async with self.new_uow() as uow:
            if not await uow.customers.mark_active(tenant_id, customer_id, occurred_at):
                return False
            one_line = " ".join(text.split())
            if len(one_line) > MAX_SUMMARY:
                one_line = one_line[: MAX_SUMMARY - 1] + "…"
            await uow.customers.add_timeline(
                TimelineEntry(
                    event_id=event_id,
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    type="message.received",
                    occurred_at=occurred_at,
                    summary=f"Message: {one_line}",
                    actor=f"customers/{customer_id}",
                    resource=message,
                    details=details,
                )
            )
            await uow.commit()
        return True
