"""ScoringRepository in SQL, always filtered by tenant.

Conditions are stored as the serialized ``crosstalk.common.v1.Condition``
the client sent and read back into trees here: score rule conditions against
the facts of their event type, tier rule conditions against the tenant's
customer fields as they are now.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.clock import as_utc
from crosstalk_common.conditions.model import FieldSpec, Group, Node
from crosstalk_common.conditions.parse import parse_condition
from crosstalk_common.db.keyset import past
from crosstalk_common.db.revisions import TenantRevisions
from crosstalk_common.errors import InvalidArgument
from customers.adapters.field_repository import SqlCustomFieldRepository
from customers.adapters.tables import (
    customers,
    points_entries,
    score_rule_awards,
    score_rule_revisions,
    score_rules,
    tier_rules,
    tiers,
)
from customers.app.scoring_ports import TierTaken
from customers.domain.filter_fields import bare_reference_values, filter_fields
from customers.domain.model import PointsEntry, PointsKind
from customers.domain.scoring import (
    EVENT_FIELDS,
    MAX_SCORE_RULE_CONDITIONS,
    CapPeriod,
    ScoreAward,
    ScoreRule,
    ScoreRuleFrequency,
    Tier,
    TierRule,
)

log = logging.getLogger(__name__)

# Read on every scored event: by key, in the event loop on SQLite.
_REVISIONS = TenantRevisions(score_rule_revisions)

# A stored condition is re-read without the size limit it was written under.
_NO_LIMIT = 10_000
# Matches nothing: a stored score rule condition that no longer fits its event.
_NEVER: Node = Group("or", ())


def _condition_pb(blob: bytes | None) -> condition_pb2.Condition:
    return condition_pb2.Condition.FromString(blob or b"")


def _after_created(table: Any, after: list[str]) -> list[ColumnElement[bool]]:
    if not after:
        return []
    at, last_id = datetime.fromisoformat(after[0]), after[1]
    return [past([table.c.created_at, table.c.id], [at, last_id])]


def _tier(r: Any) -> Tier:
    return Tier(
        id=r.id,
        tenant_id=r.tenant_id,
        display_name=r.display_name,
        rank=int(r.rank),
        description=r.description,
        color=r.color,
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        version=r.version,
    )


def _points_entry(r: Any) -> PointsEntry:
    return PointsEntry(
        id=r.id,
        tenant_id=r.tenant_id,
        customer_id=r.customer_id,
        kind=PointsKind(r.kind),
        points=int(r.points),
        balance=int(r.balance),
        reason=r.reason,
        order=r.order_name,
        expire_time=as_utc(r.expire_time) if r.expire_time else None,
        actor=r.actor,
        request_id=r.request_id or "",
        created_at=as_utc(r.created_at),
    )


class SqlScoringRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- score rules ----------------------------------------------------------

    def event_condition(self, blob: bytes, event_type: str, *, field_path: str) -> Node | None:
        if not blob:
            return None
        return parse_condition(
            _condition_pb(blob),
            EVENT_FIELDS.get(event_type, {}),
            max_conditions=MAX_SCORE_RULE_CONDITIONS,
            field_path=field_path,
        )

    def _score_rule(self, r: Any) -> ScoreRule:
        blob = bytes(r.condition or b"")
        try:
            condition = (
                parse_condition(
                    _condition_pb(blob),
                    EVENT_FIELDS.get(r.event_type, {}),
                    max_conditions=_NO_LIMIT,
                )
                if blob
                else None
            )
        except InvalidArgument as exc:
            log.warning("score rule %s: stored condition unusable (%s)", r.id, exc.message)
            condition = _NEVER
        return ScoreRule(
            id=r.id,
            tenant_id=r.tenant_id,
            display_name=r.display_name,
            event_type=r.event_type,
            points=int(r.points),
            frequency=ScoreRuleFrequency(r.frequency),
            condition=condition,
            condition_blob=blob,
            cap_points=int(r.cap_points),
            cap_period=CapPeriod(r.cap_period) if r.cap_period else None,
            enabled=bool(r.enabled),
            created_at=as_utc(r.created_at),
            updated_at=as_utc(r.updated_at),
            version=r.version,
        )

    async def add_score_rule(self, rule: ScoreRule) -> None:
        await self._session.execute(insert(score_rules).values(**_score_rule_row(rule)))
        await self._bump(rule.tenant_id)

    async def _bump(self, tenant_id: str) -> None:
        await _REVISIONS.bump(self._session, tenant_id)

    async def score_rules_revision(self, tenant_id: str) -> int:
        return await _REVISIONS.read(self._session, tenant_id)

    async def get_score_rule(self, tenant_id: str, rule_id: str) -> ScoreRule | None:
        row = (
            await self._session.execute(
                select(score_rules).where(
                    score_rules.c.tenant_id == tenant_id, score_rules.c.id == rule_id
                )
            )
        ).first()
        return None if row is None else self._score_rule(row)

    async def page_score_rules(
        self, tenant_id: str, *, after: list[str], limit: int
    ) -> list[ScoreRule]:
        rows = await self._session.execute(
            select(score_rules)
            .where(score_rules.c.tenant_id == tenant_id, *_after_created(score_rules, after))
            .order_by(score_rules.c.created_at, score_rules.c.id)
            .limit(limit)
        )
        return [self._score_rule(r) for r in rows]

    async def save_score_rule(self, rule: ScoreRule, *, expected_version: int) -> bool:
        row = _score_rule_row(rule)
        del row["id"], row["tenant_id"], row["created_at"]
        result = await self._session.execute(
            update(score_rules)
            .where(
                score_rules.c.tenant_id == rule.tenant_id,
                score_rules.c.id == rule.id,
                score_rules.c.version == expected_version,
            )
            .values(**row)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        await self._bump(rule.tenant_id)
        return True

    async def delete_score_rule(self, tenant_id: str, rule_id: str) -> None:
        await self._session.execute(
            delete(score_rule_awards).where(
                score_rule_awards.c.tenant_id == tenant_id, score_rule_awards.c.rule_id == rule_id
            )
        )
        await self._session.execute(
            delete(score_rules).where(
                score_rules.c.tenant_id == tenant_id, score_rules.c.id == rule_id
            )
        )
        await self._bump(tenant_id)

    async def enabled_score_rules(self, tenant_id: str, event_type: str) -> list[ScoreRule]:
        rows = await self._session.execute(
            select(score_rules)
            .where(
                score_rules.c.tenant_id == tenant_id,
                score_rules.c.event_type == event_type,
                score_rules.c.enabled.is_(True),
            )
            .order_by(score_rules.c.created_at, score_rules.c.id)
        )
        return [self._score_rule(r) for r in rows]

    async def add_award(self, award: ScoreAward) -> bool:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(score_rule_awards).values(
                        id=award.id,
                        tenant_id=award.tenant_id,
                        rule_id=award.rule_id,
                        customer_id=award.customer_id,
                        event_id=award.event_id,
                        points=award.points,
                        created_at=award.awarded_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    def _awards_of(self, tenant_id: str, rule_id: str, customer_id: str) -> list[Any]:
        t = score_rule_awards
        return [t.c.tenant_id == tenant_id, t.c.rule_id == rule_id, t.c.customer_id == customer_id]

    async def has_award(self, tenant_id: str, rule_id: str, customer_id: str) -> bool:
        found = await self._session.scalar(
            select(score_rule_awards.c.id)
            .where(*self._awards_of(tenant_id, rule_id, customer_id))
            .limit(1)
        )
        return found is not None

    async def awarded_in(
        self,
        tenant_id: str,
        rule_id: str,
        customer_id: str,
        period: tuple[datetime, datetime] | None,
    ) -> int:
        t = score_rule_awards
        where = self._awards_of(tenant_id, rule_id, customer_id)
        if period is not None:
            where.extend([t.c.created_at >= period[0], t.c.created_at < period[1]])
        total = await self._session.scalar(select(func.sum(func.abs(t.c.points))).where(*where))
        return int(total or 0)

    async def lock_customer(self, tenant_id: str, customer_id: str) -> bool:
        found = await self._session.scalar(
            select(customers.c.id)
            .where(customers.c.tenant_id == tenant_id, customers.c.id == customer_id)
            .with_for_update()
        )
        return found is not None

    # --- tiers ----------------------------------------------------------------

    async def _write_tier(self, statement: Any) -> Any:
        try:
            async with self._session.begin_nested():
                return await self._session.execute(statement)
        except IntegrityError as exc:
            raise TierTaken(str(exc.orig)) from exc

    async def add_tier(self, tier: Tier) -> None:
        await self._write_tier(insert(tiers).values(**_tier_row(tier)))

    async def get_tier(self, tenant_id: str, tier_id: str) -> Tier | None:
        row = (
            await self._session.execute(
                select(tiers).where(tiers.c.tenant_id == tenant_id, tiers.c.id == tier_id)
            )
        ).first()
        return None if row is None else _tier(row)

    async def tiers(self, tenant_id: str) -> list[Tier]:
        rows = await self._session.execute(
            select(tiers).where(tiers.c.tenant_id == tenant_id).order_by(tiers.c.rank.desc())
        )
        return [_tier(r) for r in rows]

    async def tenants_with_tiers(self) -> list[str]:
        found = await self._session.scalars(
            select(tiers.c.tenant_id).distinct().order_by(tiers.c.tenant_id)
        )
        return list(found.all())

    async def page_tiers(self, tenant_id: str, *, after: list[str], limit: int) -> list[Tier]:
        where: list[ColumnElement[bool]] = [tiers.c.tenant_id == tenant_id]
        if after:
            rank, last_id = int(after[0]), after[1]
            # Rank descending, id ascending: not one row comparison (ADR 0013).
            where.append(or_(tiers.c.rank < rank, and_(tiers.c.rank == rank, tiers.c.id > last_id)))
        rows = await self._session.execute(
            select(tiers).where(*where).order_by(tiers.c.rank.desc(), tiers.c.id).limit(limit)
        )
        return [_tier(r) for r in rows]

    async def save_tier(self, tier: Tier, *, expected_version: int) -> bool:
        row = _tier_row(tier)
        del row["id"], row["tenant_id"], row["created_at"]
        result = await self._write_tier(
            update(tiers)
            .where(
                tiers.c.tenant_id == tier.tenant_id,
                tiers.c.id == tier.id,
                tiers.c.version == expected_version,
            )
            .values(**row)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def delete_tier(self, tenant_id: str, tier_id: str) -> None:
        await self._session.execute(
            delete(tiers).where(tiers.c.tenant_id == tenant_id, tiers.c.id == tier_id)
        )

    async def tier_usage(self, tenant_id: str, tier_id: str) -> tuple[int, int]:
        rules = await self._session.scalar(
            select(func.count())
            .select_from(tier_rules)
            .where(tier_rules.c.tenant_id == tenant_id, tier_rules.c.tier_id == tier_id)
        )
        holders = await self._session.scalar(
            select(func.count())
            .select_from(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.tier_id == tier_id)
        )
        return int(rules or 0), int(holders or 0)

    # --- tier rules -------------------------------------------------------------

    async def _customer_fields(self, tenant_id: str) -> dict[str, FieldSpec]:
        definitions = await SqlCustomFieldRepository(self._session).by_key(tenant_id)
        return filter_fields(definitions, in_memory=True)

    def _tier_rule(self, r: Any, fields: dict[str, FieldSpec]) -> TierRule:
        blob = bytes(r.condition)
        try:
            parsed = parse_condition(_condition_pb(blob), fields, max_conditions=_NO_LIMIT)
            condition = None if parsed is None else bare_reference_values(parsed)
        except InvalidArgument as exc:
            log.warning("tier rule %s: stored condition unusable (%s)", r.id, exc.message)
            condition = None
        return TierRule(
            id=r.id,
            tenant_id=r.tenant_id,
            tier_id=r.tier_id,
            condition=condition,
            condition_blob=blob,
            allow_downgrade=bool(r.allow_downgrade),
            enabled=bool(r.enabled),
            created_at=as_utc(r.created_at),
            updated_at=as_utc(r.updated_at),
            version=r.version,
        )

    async def _tier_rules(self, tenant_id: str, query: Any) -> list[TierRule]:
        rows = (await self._session.execute(query)).all()
        if not rows:
            return []
        fields = await self._customer_fields(tenant_id)
        return [self._tier_rule(r, fields) for r in rows]

    async def add_tier_rule(self, rule: TierRule) -> None:
        await self._session.execute(insert(tier_rules).values(**_tier_rule_row(rule)))

    async def get_tier_rule(self, tenant_id: str, rule_id: str) -> TierRule | None:
        found = await self._tier_rules(
            tenant_id,
            select(tier_rules).where(
                tier_rules.c.tenant_id == tenant_id, tier_rules.c.id == rule_id
            ),
        )
        return found[0] if found else None

    async def page_tier_rules(
        self, tenant_id: str, *, tier_id: str, after: list[str], limit: int
    ) -> list[TierRule]:
        where = [tier_rules.c.tenant_id == tenant_id, *_after_created(tier_rules, after)]
        if tier_id:
            where.append(tier_rules.c.tier_id == tier_id)
        return await self._tier_rules(
            tenant_id,
            select(tier_rules)
            .where(*where)
            .order_by(tier_rules.c.created_at, tier_rules.c.id)
            .limit(limit),
        )

    async def save_tier_rule(self, rule: TierRule, *, expected_version: int) -> bool:
        row = _tier_rule_row(rule)
        del row["id"], row["tenant_id"], row["created_at"]
        result = await self._session.execute(
            update(tier_rules)
            .where(
                tier_rules.c.tenant_id == rule.tenant_id,
                tier_rules.c.id == rule.id,
                tier_rules.c.version == expected_version,
            )
            .values(**row)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def delete_tier_rule(self, tenant_id: str, rule_id: str) -> None:
        await self._session.execute(
            delete(tier_rules).where(
                tier_rules.c.tenant_id == tenant_id, tier_rules.c.id == rule_id
            )
        )

    async def tier_rules(self, tenant_id: str) -> list[TierRule]:
        return await self._tier_rules(
            tenant_id,
            select(tier_rules)
            .where(tier_rules.c.tenant_id == tenant_id)
            .order_by(tier_rules.c.created_at, tier_rules.c.id),
        )

    async def set_customer_tier(
        self,
        tenant_id: str,
        customer_id: str,
        tier_id: str,
        *,
        expected_version: int,
        now: datetime,
    ) -> bool:
        result = await self._session.execute(
            update(customers)
            .where(
                customers.c.tenant_id == tenant_id,
                customers.c.id == customer_id,
                customers.c.version == expected_version,
            )
            .values(tier_id=tier_id, version=customers.c.version + 1, updated_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    # --- points expiry ----------------------------------------------------------

    async def customers_with_due_points(
        self, now: datetime, *, since: datetime | None, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str]]:
        p = points_entries
        where: list[ColumnElement[bool]] = [
            p.c.kind == PointsKind.EARN.value,
            p.c.expire_time.is_not(None),
            p.c.expire_time <= now,
            customers.c.points_balance > 0,
        ]
        if since is not None:
            where.append(p.c.expire_time > since)
        if after is not None:
            where.append(past([p.c.tenant_id, p.c.customer_id], after))
        rows = await self._session.execute(
            select(p.c.tenant_id, p.c.customer_id)
            .join(
                customers,
                and_(customers.c.id == p.c.customer_id, customers.c.tenant_id == p.c.tenant_id),
            )
            .where(*where)
            .group_by(p.c.tenant_id, p.c.customer_id)
            .order_by(p.c.tenant_id, p.c.customer_id)
            .limit(limit)
        )
        return [(str(r.tenant_id), str(r.customer_id)) for r in rows]

    async def points_history(self, tenant_id: str, customer_id: str) -> list[PointsEntry]:
        p = points_entries
        rows = await self._session.execute(
            select(p)
            .where(p.c.tenant_id == tenant_id, p.c.customer_id == customer_id)
            .order_by(p.c.created_at, p.c.id)
        )
        return [_points_entry(r) for r in rows]


def _score_rule_row(rule: ScoreRule) -> dict[str, Any]:
    assert rule.frequency is not None  # checked before it is stored
    return {
        "id": rule.id,
        "tenant_id": rule.tenant_id,
        "display_name": rule.display_name,
        "event_type": rule.event_type,
        "condition": rule.condition_blob or None,
        "points": rule.points,
        "frequency": rule.frequency.value,
        "cap_points": rule.cap_points,
        "cap_period": rule.cap_period.value if rule.cap_period else "",
        "enabled": rule.enabled,
        "version": rule.version,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def _tier_row(tier: Tier) -> dict[str, Any]:
    return {
        "id": tier.id,
        "tenant_id": tier.tenant_id,
        "display_name": tier.display_name,
        "rank": tier.rank,
        "description": tier.description,
        "color": tier.color,
        "version": tier.version,
        "created_at": tier.created_at,
        "updated_at": tier.updated_at,
    }


def _tier_rule_row(rule: TierRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "tenant_id": rule.tenant_id,
        "tier_id": rule.tier_id,
        "condition": rule.condition_blob,
        "allow_downgrade": rule.allow_downgrade,
        "enabled": rule.enabled,
        "version": rule.version,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }
