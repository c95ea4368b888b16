"""AdjustScore (also rule.action.score) and a customer's score history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import Aborted, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.lookup import read_of_visible_customer, visible_customer
from customers.app.ports import RequestReplayed, UnitOfWork
from customers.app.tiers import reassess_tier
from customers.app.timeline import record
from customers.domain.events import CustomerScored
from customers.domain.model import (
    Customer,
    ScoreChange,
    validate_reason,
    validate_request_id,
    validate_score_delta,
)
from customers.domain.names import CUSTOMER, customer_name


@dataclass(frozen=True)
class ScoreAdjustments:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def adjust_score(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        delta: int,
        reason: str,
        *,
        actor: str,
        request_id: str = "",
        cause_event_id: str = "",
    ) -> Customer:
        """score += delta in one UPDATE, with a history row, customer.scored and a timeline row.

        A repeated request_id changes nothing and returns the customer as it is.
        """
        validate_score_delta(delta)
        reason = validate_reason(reason, field_name="reason", required=True)
        request_id = validate_request_id(request_id)
        async with self.new_uow() as uow:
            await visible_customer(uow, tenant_id, visibility, customer_id)
            if request_id and await uow.customers.score_change_for_request(
                tenant_id, customer_id, request_id
            ):
                return await visible_customer(uow, tenant_id, visibility, customer_id)
            now = utc_now()
            if not await uow.customers.add_to_score(tenant_id, customer_id, delta, now=now):
                raise NotFound(CUSTOMER, customer_name(customer_id))
            updated = await visible_customer(uow, tenant_id, visibility, customer_id)
            try:
                await uow.customers.add_score_change(
                    ScoreChange(
                        id=str(uuid.uuid4()),
                        tenant_id=tenant_id,
                        customer_id=customer_id,
                        delta=delta,
                        score=updated.score,
                        reason=reason,
                        source=actor,
                        cause_event_id=cause_event_id,
                        request_id=request_id,
                        created_at=now,
                    )
                )
            except RequestReplayed:
                raise Aborted(
                    "a request with this request_id is being processed; retry it"
                ) from None
            await record(
                uow.customers,
                uow.emit,
                updated,
                CustomerScored(
                    customer_id,
                    delta=delta,
                    score=updated.score,
                    reason=reason,
                    source=actor,
                    cause_event_id=cause_event_id,
                ),
                summary=f"Score {delta:+d} -> {updated.score}: {reason}",
                actor=actor,
                details={"delta": delta, "score": updated.score, "reason": reason},
            )
            updated = await reassess_tier(uow, tenant_id, customer_id) or updated
            await uow.commit()
        return updated

    async def score_history(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        after: list[str],
        limit: int,
    ) -> list[ScoreChange]:
        return await read_of_visible_customer(
            self.new_uow,
            tenant_id,
            visibility,
            customer_id,
            lambda uow: uow.customers.score_history(
                tenant_id, customer_id, after=after, limit=limit
            ),
        )
