"""Score rules, tiers and tier rules: the tenant's configuration (no data scope).

Changing a tier's rank or any tier rule re-assesses every customer of the
tenant in the background (``TierRecompute``) after the change commits, so
the RPC never waits for it.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.ports import UnitOfWork
from customers.app.score_rules import score_rule_name
from customers.app.scoring_ports import TierTaken
from customers.app.tiers import TierRecompute, tier_name, tier_rule_name
from customers.domain.scoring import (
    EVENT_FIELDS,
    ScoreRule,
    Tier,
    TierRule,
    score_rule_problems,
    tier_clash,
    tier_problems,
)

SCORE_RULE = "crosstalk.io/ScoreRule"
TIER = "crosstalk.io/Tier"
TIER_RULE = "crosstalk.io/TierRule"


class ScoringService:
    def __init__(self, new_uow: UnitOfWorkFactory[UnitOfWork]) -> None:
        self.new_uow = new_uow
        self.tier_recompute = TierRecompute(new_uow)

    # --- score rules ----------------------------------------------------------

    async def _checked_rule(self, uow: UnitOfWork, rule: ScoreRule) -> ScoreRule:
        """Trimmed, checked, with its condition read against the event type's facts."""
        rule = replace(rule, display_name=rule.display_name.strip())
        bad = score_rule_problems(rule)
        condition = None
        if rule.event_type in EVENT_FIELDS:
            try:
                condition = uow.scoring.event_condition(
                    rule.condition_blob, rule.event_type, field_path="score_rule.condition"
                )
            except InvalidArgument as exc:
                bad.extend(exc.violations)
        if bad:
            raise InvalidArgument(bad)
        return replace(rule, condition=condition)

    async def create_score_rule(self, draft: ScoreRule) -> ScoreRule:
        now = utc_now()
        async with self.new_uow() as uow:
            rule = await self._checked_rule(
                uow, replace(draft, id=str(uuid.uuid4()), created_at=now, updated_at=now, version=1)
            )
            await uow.scoring.add_score_rule(rule)
            await uow.commit()
        return rule

    async def get_score_rule(self, tenant_id: str, rule_id: str) -> ScoreRule:
        async with self.new_uow() as uow:
            rule = await uow.scoring.get_score_rule(tenant_id, rule_id)
        if rule is None:
            raise NotFound(SCORE_RULE, score_rule_name(rule_id))
        return rule

    async def page_score_rules(
        self, tenant_id: str, *, after: list[str], limit: int
    ) -> list[ScoreRule]:
        async with self.new_uow() as uow:
            return await uow.scoring.page_score_rules(tenant_id, after=after, limit=limit)

    async def update_score_rule(
        self, tenant_id: str, rule_id: str, changes: dict[str, object], etag: str
    ) -> ScoreRule:
        """Applies to events from then on; awards already made stay."""
        name = score_rule_name(rule_id)
        async with self.new_uow() as uow:
            current = await uow.scoring.get_score_rule(tenant_id, rule_id)
            if current is None:
                raise NotFound(SCORE_RULE, name)
            check_etag(etag, current.etag, name)
            updated = await self._checked_rule(
                uow,
                replace(current, **changes, updated_at=utc_now(), version=current.version + 1),  # type: ignore[arg-type]
            )
            if not await uow.scoring.save_score_rule(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            await uow.commit()
        return updated

    async def delete_score_rule(self, tenant_id: str, rule_id: str, etag: str) -> None:
        """Score changes it made stay; its award records go."""
        name = score_rule_name(rule_id)
        async with self.new_uow() as uow:
            current = await uow.scoring.get_score_rule(tenant_id, rule_id)
            if current is None:
                raise NotFound(SCORE_RULE, name)
            check_etag(etag, current.etag, name)
            await uow.scoring.delete_score_rule(tenant_id, rule_id)
            await uow.commit()

    # --- tiers ----------------------------------------------------------------

    async def _check_tier(self, uow: UnitOfWork, tier: Tier) -> None:
        bad = tier_problems(tier)
        if bad:
            raise InvalidArgument(bad)
        clash = tier_clash(tier, await uow.scoring.tiers(tier.tenant_id))
        if clash == "rank":
            raise AlreadyExists(TIER, f"rank {tier.rank}", "another tier has this rank")
        if clash:
            raise AlreadyExists(TIER, tier.display_name, "another tier has this display name")

    async def create_tier(self, draft: Tier) -> Tier:
        now = utc_now()
        tier = replace(
            draft,
            id=str(uuid.uuid4()),
            display_name=draft.display_name.strip(),
            created_at=now,
            updated_at=now,
            version=1,
        )
        async with self.new_uow() as uow:
            await self._check_tier(uow, tier)
            try:
                await uow.scoring.add_tier(tier)
            except TierTaken:
                raise AlreadyExists(TIER, tier.display_name) from None
            await uow.commit()
        return tier

    async def get_tier(self, tenant_id: str, tier_id: str) -> Tier:
        async with self.new_uow() as uow:
            tier = await uow.scoring.get_tier(tenant_id, tier_id)
        if tier is None:
            raise NotFound(TIER, tier_name(tier_id))
        return tier

    async def page_tiers(self, tenant_id: str, *, after: list[str], limit: int) -> list[Tier]:
        async with self.new_uow() as uow:
            return await uow.scoring.page_tiers(tenant_id, after=after, limit=limit)

    async def update_tier(
        self, tenant_id: str, tier_id: str, changes: dict[str, object], etag: str
    ) -> Tier:
        """A new rank re-assesses the tenant's customers in the background."""
        name = tier_name(tier_id)
        async with self.new_uow() as uow:
            current = await uow.scoring.get_tier(tenant_id, tier_id)
            if current is None:
                raise NotFound(TIER, name)
            check_etag(etag, current.etag, name)
            updated = replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            updated = replace(updated, display_name=updated.display_name.strip())
            await self._check_tier(uow, updated)
            try:
                saved = await uow.scoring.save_tier(updated, expected_version=current.version)
            except TierTaken:
                raise AlreadyExists(TIER, updated.display_name) from None
            if not saved:
                raise Aborted.etag_mismatch(name)
            await uow.commit()
        if updated.rank != current.rank:
            self.tier_recompute.request(tenant_id)
        return updated

    async def delete_tier(self, tenant_id: str, tier_id: str, etag: str) -> None:
        name = tier_name(tier_id)
        async with self.new_uow() as uow:
            current = await uow.scoring.get_tier(tenant_id, tier_id)
            if current is None:
                raise NotFound(TIER, name)
            check_etag(etag, current.etag, name)
            rules, holders = await uow.scoring.tier_usage(tenant_id, tier_id)
            if rules or holders:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "TIER_IN_USE",
                            name,
                            f"{rules} tier rule(s) grant it and {holders} customer(s) hold it; "
                            "delete its rules first (customers then lose it)",
                        )
                    ]
                )
            await uow.scoring.delete_tier(tenant_id, tier_id)
            await uow.commit()

    # --- tier rules -------------------------------------------------------------

    async def _check_tier_rule(
        self, uow: UnitOfWork, rule: TierRule, *, check_condition: bool = True
    ) -> None:
        bad = []
        if not rule.tier_id:
            bad.append(
                FieldViolation("tier_rule.tier", "required: the tier granted ('tiers/{id}')")
            )
        elif await uow.scoring.get_tier(rule.tenant_id, rule.tier_id) is None:
            bad.append(FieldViolation("tier_rule.tier", f"no tier {tier_name(rule.tier_id)!r}"))
        if check_condition and rule.condition is None:
            bad.append(
                FieldViolation(
                    "tier_rule.condition",
                    "required: when customers qualify, e.g. order_value gte 1000",
                )
            )
        if bad:
            raise InvalidArgument(bad)

    async def create_tier_rule(self, draft: TierRule) -> TierRule:
        """Re-assesses the tenant's customers in the background."""
        now = utc_now()
        rule = replace(draft, id=str(uuid.uuid4()), created_at=now, updated_at=now, version=1)
        async with self.new_uow() as uow:
            await self._check_tier_rule(uow, rule)
            await uow.scoring.add_tier_rule(rule)
            await uow.commit()
        self.tier_recompute.request(rule.tenant_id)
        return rule

    async def get_tier_rule(self, tenant_id: str, rule_id: str) -> TierRule:
        async with self.new_uow() as uow:
            rule = await uow.scoring.get_tier_rule(tenant_id, rule_id)
        if rule is None:
            raise NotFound(TIER_RULE, tier_rule_name(rule_id))
        return rule

    async def page_tier_rules(
        self, tenant_id: str, *, tier_id: str, after: list[str], limit: int
    ) -> list[TierRule]:
        async with self.new_uow() as uow:
            return await uow.scoring.page_tier_rules(
                tenant_id, tier_id=tier_id, after=after, limit=limit
            )

    async def update_tier_rule(
        self, tenant_id: str, rule_id: str, changes: dict[str, object], etag: str
    ) -> TierRule:
        """Re-assesses the tenant's customers in the background."""
        name = tier_rule_name(rule_id)
        async with self.new_uow() as uow:
            current = await uow.scoring.get_tier_rule(tenant_id, rule_id)
            if current is None:
                raise NotFound(TIER_RULE, name)
            check_etag(etag, current.etag, name)
            updated = replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            # A rule whose condition went stale (a custom field it names was
            # deleted) can still be disabled or moved without resending it.
            await self._check_tier_rule(uow, updated, check_condition="condition" in changes)
            if not await uow.scoring.save_tier_rule(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            await uow.commit()
        self.tier_recompute.request(tenant_id)
        return updated

    async def delete_tier_rule(self, tenant_id: str, rule_id: str, etag: str) -> None:
        """Customers who held a tier only through it lose it (in the background)."""
        name = tier_rule_name(rule_id)
        async with self.new_uow() as uow:
            current = await uow.scoring.get_tier_rule(tenant_id, rule_id)
            if current is None:
                raise NotFound(TIER_RULE, name)
            check_etag(etag, current.etag, name)
            await uow.scoring.delete_tier_rule(tenant_id, rule_id)
            await uow.commit()
        self.tier_recompute.request(tenant_id)
