"""A customer's lifecycle stage: SetLifecycleStage (also rule.action.stage) and its history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.conflicts import ChangedMeanwhile, retried_when_changed_meanwhile
from customers.app.lookup import read_of_visible_customer, visible_customer
from customers.app.ports import UnitOfWork
from customers.app.timeline import record
from customers.domain.events import CustomerStageChanged
from customers.domain.model import Customer, LifecycleChange, LifecycleStage, validate_reason


@dataclass(frozen=True)
class LifecycleStages:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    @retried_when_changed_meanwhile
    async def set_lifecycle_stage(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        stage: LifecycleStage,
        reason: str,
        *,
        actor: str,
        cause_event_id: str = "",
    ) -> Customer:
        """Any move is allowed; every one is recorded (setting the same stage is a no-op)."""
        reason = validate_reason(reason, field_name="reason", required=False)
        async with self.new_uow() as uow:
            current = await visible_customer(uow, tenant_id, visibility, customer_id)
            if current.lifecycle_stage is stage:
                return current
            now = utc_now()
            updated = replace(
                current, lifecycle_stage=stage, updated_at=now, version=current.version + 1
            )
            if not await uow.customers.save_stage(updated, expected_version=current.version):
                raise ChangedMeanwhile()
            await uow.customers.add_lifecycle_change(
                LifecycleChange(
                    id=str(uuid.uuid4()),
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    from_stage=current.lifecycle_stage,
                    to_stage=stage,
                    reason=reason,
                    actor=actor,
                    cause_event_id=cause_event_id,
                    created_at=now,
                )
            )
            before = current.lifecycle_stage.value if current.lifecycle_stage else "none"
            await record(
                uow.customers,
                uow.emit,
                updated,
                CustomerStageChanged(
                    customer_id,
                    from_stage=current.lifecycle_stage,
                    to_stage=stage,
                    reason=reason,
                    actor=actor,
                    cause_event_id=cause_event_id,
                ),
                summary=f"Lifecycle stage {before} -> {stage.value}"
                + (f": {reason}" if reason else ""),
                actor=actor,
                details={"from_stage": before, "to_stage": stage.value, "reason": reason},
            )
            await uow.commit()
        return updated

    async def lifecycle_history(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        after: list[str],
        limit: int,
    ) -> list[LifecycleChange]:
        return await read_of_visible_customer(
            self.new_uow,
            tenant_id,
            visibility,
            customer_id,
            lambda uow: uow.customers.lifecycle_history(
                tenant_id, customer_id, after=after, limit=limit
            ),
        )
