"""What score rule and tier use cases need from storage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from crosstalk_common.conditions.model import Node
from customers.domain.model import PointsEntry
from customers.domain.scoring import ScoreAward, ScoreRule, Tier, TierRule


class TierTaken(Exception):
    """Another tier of the tenant has this rank or display name (a uniqueness violation)."""


class ScoringRepository(Protocol):
    """Score rules, their awards, tiers and tier rules; see adapters/scoring_repository.py."""

    # --- score rules ----------------------------------------------------------
    async def add_score_rule(self, rule: ScoreRule) -> None: ...
    async def get_score_rule(self, tenant_id: str, rule_id: str) -> ScoreRule | None: ...
    async def page_score_rules(
        self, tenant_id: str, *, after: list[str], limit: int
    ) -> list[ScoreRule]: ...
    async def save_score_rule(self, rule: ScoreRule, *, expected_version: int) -> bool: ...
    async def delete_score_rule(self, tenant_id: str, rule_id: str) -> None: ...
    async def enabled_score_rules(self, tenant_id: str, event_type: str) -> list[ScoreRule]:
        """The tenant's enabled rules for an event type, oldest first."""
        ...

    async def score_rules_revision(self, tenant_id: str) -> int:
        """The revision of the tenant's score rules (0 before any change): every add,
        save or delete moves it in the same transaction, so an equal revision means
        equal rules (one read by key)."""
        ...

    def event_condition(self, blob: bytes, event_type: str, *, field_path: str) -> Node | None:
        """A serialized condition read against the facts of ``event_type``.

        None when empty; InvalidArgument (paths under ``field_path``) when it
        names facts the event does not have.
        """
        ...

    async def add_award(self, award: ScoreAward) -> bool:
        """False (and nothing written) when the rule already awarded this event."""
        ...

    async def has_award(self, tenant_id: str, rule_id: str, customer_id: str) -> bool: ...
    async def awarded_in(
        self,
        tenant_id: str,
        rule_id: str,
        customer_id: str,
        period: tuple[datetime, datetime] | None,
    ) -> int:
        """Sum of |points| the rule awarded the customer for events in [start, end)
        of ``period`` (None: ever)."""
        ...

    async def lock_customer(self, tenant_id: str, customer_id: str) -> bool:
        """Lock the customer's row until the transaction ends (no version bump)."""
        ...

    # --- tiers and tier rules ---------------------------------------------------
    async def add_tier(self, tier: Tier) -> None: ...
    async def get_tier(self, tenant_id: str, tier_id: str) -> Tier | None: ...
    async def tiers(self, tenant_id: str) -> list[Tier]:
        """Every tier of the tenant, highest rank first."""
        ...

    async def tenants_with_tiers(self) -> list[str]:
        """Every tenant that has at least one tier (across tenants: for the sweep)."""
        ...

    async def page_tiers(self, tenant_id: str, *, after: list[str], limit: int) -> list[Tier]: ...
    async def save_tier(self, tier: Tier, *, expected_version: int) -> bool: ...
    async def delete_tier(self, tenant_id: str, tier_id: str) -> None: ...
    async def tier_usage(self, tenant_id: str, tier_id: str) -> tuple[int, int]:
        """(tier rules granting it, customers holding it)."""
        ...

    async def add_tier_rule(self, rule: TierRule) -> None: ...
    async def get_tier_rule(self, tenant_id: str, rule_id: str) -> TierRule | None: ...
    async def page_tier_rules(
        self, tenant_id: str, *, tier_id: str, after: list[str], limit: int
    ) -> list[TierRule]: ...
    async def save_tier_rule(self, rule: TierRule, *, expected_version: int) -> bool: ...
    async def delete_tier_rule(self, tenant_id: str, rule_id: str) -> None: ...
    async def tier_rules(self, tenant_id: str) -> list[TierRule]:
        """Every tier rule of the tenant, conditions read against its current fields."""
        ...

    async def set_customer_tier(
        self,
        tenant_id: str,
        customer_id: str,
        tier_id: str,
        *,
        expected_version: int,
        now: datetime,
    ) -> bool:
        """tier_id and a version bump, if the customer is still at expected_version."""
        ...

    # --- points expiry ----------------------------------------------------------
    async def customers_with_due_points(
        self, now: datetime, *, since: datetime | None, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str]]:
        """(tenant_id, customer_id) of customers with points left and an earn whose
        expire_time is in (since, now], in that order, after the ``after`` key."""
        ...

    async def points_history(self, tenant_id: str, customer_id: str) -> list[PointsEntry]:
        """The customer's whole points ledger in booking order."""
        ...
