"""Merging duplicate customers and suggesting duplicates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import Aborted, FieldViolation, InvalidArgument
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.lookup import visible_customer
from customers.app.ports import UnitOfWork
from customers.app.timeline import record
from customers.domain.duplicates import DuplicateSuggestion, suggestion
from customers.domain.events import CustomerMerged
from customers.domain.merging import (
    MergeRecord,
    merged_order_totals,
    merged_profile,
    merged_tags,
    validate_merge,
)
from customers.domain.model import Customer, validate_request_id
from customers.domain.names import customer_name

# At most this many batches of candidate keys are read for one page of suggestions;
# a page may then hold fewer suggestions than asked, with a next_page_token.
_MAX_BATCHES = 10


@dataclass(frozen=True)
class MergeService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def merge(
        self,
        tenant_id: str,
        visibility: Visibility,
        survivor_id: str,
        merged_ids: list[str],
        *,
        actor: str,
        request_id: str = "",
    ) -> Customer:
        """Fold the merged customers into the survivor, in one transaction.

        Every customer must exist in the caller's scope (else NOT_FOUND and
        nothing changes). A repeated request_id returns the survivor as it is.
        """
        merged_ids = validate_merge(survivor_id, merged_ids)
        request_id = validate_request_id(request_id)
        async with self.new_uow() as uow:
            if request_id:
                done = await uow.merges.target_for_request(tenant_id, request_id)
                if done is not None:
                    return await visible_customer(uow, tenant_id, visibility, done)
            survivor = await visible_customer(uow, tenant_id, visibility, survivor_id)
            others = [await visible_customer(uow, tenant_id, visibility, m) for m in merged_ids]
            now = utc_now()
            kept = replace(
                merged_profile(survivor, others), updated_at=now, version=survivor.version + 1
            )
            tags = merged_tags(survivor, others, await _exclusive_groups(uow, tenant_id, others))
            await uow.merges.move_rows(tenant_id, merged_ids, survivor_id)
            await uow.merges.replace_tags(tenant_id, survivor_id, tags, now=now)
            await uow.merges.add_balances(
                tenant_id,
                survivor_id,
                score=sum(o.score for o in others),
                points=sum(o.points_balance for o in others),
            )
            totals = merged_order_totals(
                survivor.order_totals, await uow.merges.order_summary(tenant_id, survivor_id)
            )
            await uow.customers.save_order_totals(tenant_id, survivor_id, totals)
            for other in others:
                # Its rows moved already; this drops the customer itself.
                await uow.customers.delete(tenant_id, other.id, visibility)
            if not await uow.customers.save(kept, expected_version=survivor.version):
                raise Aborted("the kept customer changed during the merge; try again")
            await uow.merges.add_records(
                [
                    MergeRecord(
                        id=str(uuid.uuid4()),
                        tenant_id=tenant_id,
                        target_id=survivor_id,
                        merged_id=other.id,
                        merged_display_name=other.display_name,
                        actor=actor,
                        request_id=request_id,
                        created_at=now,
                    )
                    for other in others
                ]
            )
            merged_names = [customer_name(o.id) for o in others]
            await record(
                uow.customers,
                uow.emit,
                kept,
                CustomerMerged(survivor_id, tuple(o.id for o in others), actor),
                summary="Merged "
                + ", ".join(o.display_name for o in others)
                + " into this customer",
                actor=actor,
                details={
                    "merged_customers": merged_names,
                    "merged_display_names": [o.display_name for o in others],
                },
            )
            result = await visible_customer(uow, tenant_id, visibility, survivor_id)
            await uow.commit()
        return result

    async def duplicates(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        customer_id: str,
        min_confidence: float,
        after: list[str],
        limit: int,
    ) -> tuple[list[DuplicateSuggestion], list[str]]:
        """A page of suggestions and the cursor after it ([] when there are no more).

        Candidate keys are read in (kind, value) order, limit + 1 at a time.
        """
        if not 0 <= min_confidence <= 1:
            raise InvalidArgument([FieldViolation("min_confidence", "must be from 0 to 1")])
        found: list[DuplicateSuggestion] = []
        cursor = after
        async with self.new_uow() as uow:
            if customer_id:
                await visible_customer(uow, tenant_id, visibility, customer_id)
            for _ in range(_MAX_BATCHES):
                batch = await uow.merges.candidates(
                    tenant_id, visibility, customer_id=customer_id, after=cursor, limit=limit + 1
                )
                members = {m for c in batch for m in c.customer_ids}
                keys_of = await uow.merges.keys_of(tenant_id, members)
                shared = {k for m in members for k in keys_of.get(m, frozenset())}
                holders = await uow.merges.holders(tenant_id, visibility, shared)
                profiles = await uow.merges.profiles(tenant_id, members)
                for i, candidate in enumerate(batch):
                    cursor = list(candidate.key)
                    made = suggestion(candidate, keys_of, holders, profiles)
                    if made is not None and made.confidence >= min_confidence:
                        found.append(made)
                    if len(found) == limit:
                        more = i + 1 < len(batch) or len(batch) > limit
                        return found, cursor if more else []
                if len(batch) <= limit:
                    return found, []
        return found, cursor


async def _exclusive_groups(
    uow: UnitOfWork, tenant_id: str, others: list[Customer]
) -> dict[str, frozenset[str]]:
    """Exclusive tag groups and their tags, for the tags the duplicates bring."""
    tags = await uow.tags.tags(tenant_id, {t for o in others for t in o.tags})
    groups = await uow.tags.groups(tenant_id, {t.group_id for t in tags.values() if t.group_id})
    exclusive = {g.id for g in groups.values() if g.exclusive}
    return await uow.tags.members(tenant_id, exclusive)
