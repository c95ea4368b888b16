"""A customer's points: EarnPoints, SpendPoints and the ledger (expiry is points_expiry.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import (
    Aborted,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PreconditionViolation,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.lookup import read_of_visible_customer, visible_customer
from customers.app.ports import RequestReplayed, UnitOfWork
from customers.app.tiers import reassess_tier
from customers.domain.model import (
    POINTS_LIMIT,
    PointsEntry,
    PointsKind,
    validate_points,
    validate_reason,
    validate_request_id,
)
from customers.domain.names import customer_name, order_name


@dataclass(frozen=True)
class Points:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def earn_points(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        points: int,
        reason: str,
        *,
        actor: str,
        order_id: str = "",
        expire_time: datetime | None = None,
        request_id: str = "",
    ) -> PointsEntry:
        """``order_id``: one of this customer's orders the points are for ("" for none)."""
        if expire_time is not None and expire_time <= utc_now():
            raise InvalidArgument([FieldViolation("expire_time", "must be in the future")])
        return await self._book_points(
            tenant_id,
            visibility,
            customer_id,
            PointsKind.EARN,
            validate_points(points),
            reason,
            actor=actor,
            order_id=order_id,
            expire_time=expire_time,
            request_id=request_id,
        )

    async def spend_points(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        points: int,
        reason: str,
        *,
        actor: str,
        order_id: str = "",
        request_id: str = "",
    ) -> PointsEntry:
        """Spending more than the balance is FAILED_PRECONDITION and writes nothing."""
        return await self._book_points(
            tenant_id,
            visibility,
            customer_id,
            PointsKind.SPEND,
            -validate_points(points),
            reason,
            actor=actor,
            order_id=order_id,
            expire_time=None,
            request_id=request_id,
        )

    async def _book_points(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        kind: PointsKind,
        signed: int,
        reason: str,
        *,
        actor: str,
        order_id: str,
        expire_time: datetime | None,
        request_id: str,
    ) -> PointsEntry:
        reason = validate_reason(reason, field_name="reason", required=True)
        request_id = validate_request_id(request_id)
        # The entry keeps the order's whole name.
        order = order_name(customer_id, order_id) if order_id else ""
        async with self.new_uow() as uow:
            current = await visible_customer(uow, tenant_id, visibility, customer_id)
            if request_id:
                earlier = await uow.customers.points_entry_for_request(
                    tenant_id, customer_id, request_id
                )
                if earlier is not None:
                    return earlier
            now = utc_now()
            # One conditional UPDATE: concurrent spends can never take the balance below 0.
            if not await uow.customers.add_points(tenant_id, customer_id, signed, now=now):
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "INSUFFICIENT_POINTS",
                            customer_name(customer_id),
                            f"the balance is {current.points_balance} point(s); "
                            f"cannot spend {-signed}",
                        )
                        if signed < 0
                        else PreconditionViolation(
                            "POINTS_LIMIT",
                            customer_name(customer_id),
                            f"the balance is {current.points_balance} point(s); earning "
                            f"{signed} would take it over {POINTS_LIMIT:,}",
                        )
                    ]
                )
            updated = await visible_customer(uow, tenant_id, visibility, customer_id)
            entry = PointsEntry(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                customer_id=customer_id,
                kind=kind,
                points=signed,
                balance=updated.points_balance,
                reason=reason,
                order=order,
                expire_time=expire_time,
                actor=actor,
                request_id=request_id,
                created_at=now,
            )
            try:
                await uow.customers.add_points_entry(entry)
            except RequestReplayed:
                raise Aborted(
                    "a request with this request_id is being processed; retry it"
                ) from None
            await reassess_tier(uow, tenant_id, customer_id)
            await uow.commit()
        return entry

    async def points_ledger(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        after: list[str],
        limit: int,
    ) -> list[PointsEntry]:
        return await read_of_visible_customer(
            self.new_uow,
            tenant_id,
            visibility,
            customer_id,
            lambda uow: uow.customers.points_ledger(
                tenant_id, customer_id, after=after, limit=limit
            ),
        )
