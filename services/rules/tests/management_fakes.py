"""Stand-ins for the peers rule management asks (customers' segments, messaging's
templates), and a RuleManagement wired to a unit of work factory with them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import NotFound
from rules.adapters.condition_reading import read_condition
from rules.app.managing import RuleManagement
from rules.app.ports import RuleFilter, SegmentCondition, UnitOfWork
from rules.domain.model import Rule, Trigger
from rules.domain.validation import RuleLimits
from rules.domain.versions import RuleVersion
from tests.in_memory_units import InMemoryUnitOfWork


class FakeSegments:
    """Segments by id: (version, Condition over rules' customer facts)."""

    def __init__(self) -> None:
        self.segments: dict[str, tuple[int, condition_pb2.Condition]] = {}
        self.asked: list[str] = []

    def put(self, segment_id: str, version: int, condition: condition_pb2.Condition) -> None:
        self.segments[segment_id] = (version, condition)

    async def condition(
        self, tenant_id: str, segment_id: str, *, field_path: str
    ) -> SegmentCondition:
        self.asked.append(segment_id)
        if segment_id not in self.segments:
            raise NotFound("crosstalk.io/Segment", f"segments/{segment_id}")
        version, condition = self.segments[segment_id]
        blob = condition.SerializeToString(deterministic=True)
        node = read_condition(blob, Trigger.SCHEDULE, field_path=field_path, max_conditions=1000)
        assert node is not None
        return SegmentCondition(segment_id, version, node, blob)


class FakeTemplates:
    def __init__(self, *names: str) -> None:
        self.names = set(names)

    async def exists(self, tenant_id: str, template: str) -> bool:
        return template in self.names


def management(
    new_uow: Callable[[], UnitOfWork],
    *,
    segments: FakeSegments | None = None,
    templates: FakeTemplates | None = None,
    limits: RuleLimits | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RuleManagement:
    return RuleManagement(
        new_uow,
        read_condition,
        segments or FakeSegments(),
        templates or FakeTemplates(),
        limits or RuleLimits(),
        clock,
    )


class FakeRuleStore:
    """Rules and their versions in memory: both ``rules`` and ``rule_versions`` of
    a unit of work (writes apply at once; the use cases commit after them)."""

    def __init__(self) -> None:
        self.rules: dict[tuple[str, str], Rule] = {}
        self.history: dict[tuple[str, str], list[RuleVersion]] = {}
        self.requests: dict[tuple[str, str], str] = {}
        self.failures: dict[tuple[str, str], int] = {}
        self.revisions: dict[str, int] = {}

    def _bump(self, tenant_id: str) -> None:
        self.revisions[tenant_id] = self.revisions.get(tenant_id, 0) + 1

    async def add(self, rule: Rule) -> None:
        self.rules[(rule.tenant_id, rule.id)] = rule
        self._bump(rule.tenant_id)

    async def get(self, tenant_id: str, rule_id: str) -> Rule | None:
        return self.rules.get((tenant_id, rule_id))

    async def revision(self, tenant_id: str) -> int:
        return self.revisions.get(tenant_id, 0)

    async def enabled_for(self, tenant_id: str, trigger: Trigger) -> list[Rule]:
        return [r for (t, _), r in self.rules.items() if t == tenant_id and r.enabled]

    async def record(self, rule: Rule, *, author: str) -> None:
        assert rule.updated_at is not None
        key = (rule.tenant_id, rule.id)
        self.history.setdefault(key, []).append(RuleVersion(rule, author, rule.updated_at))

    async def save(self, rule: Rule, *, expected_version: int, author: str) -> bool:
        current = self.rules.get((rule.tenant_id, rule.id))
        if current is None or current.version != expected_version:
            return False
        self.rules[(rule.tenant_id, rule.id)] = rule
        self.failures[(rule.tenant_id, rule.id)] = 0
        await self.record(rule, author=author)
        self._bump(rule.tenant_id)
        return True

    async def delete(self, tenant_id: str, rule_id: str, *, expected_version: int) -> bool:
        current = self.rules.get((tenant_id, rule_id))
        if current is None or current.version != expected_version:
            return False
        del self.rules[(tenant_id, rule_id)]
        self._bump(tenant_id)
        return True

    async def versions(
        self, tenant_id: str, rule_id: str, *, before: int | None, limit: int
    ) -> list[RuleVersion]:
        kept = reversed(self.history.get((tenant_id, rule_id), []))
        return [v for v in kept if before is None or v.rule.version < before][:limit]

    async def version(self, tenant_id: str, rule_id: str, version: int) -> RuleVersion | None:
        kept = self.history.get((tenant_id, rule_id), [])
        return next((v for v in kept if v.rule.version == version), None)

    async def listed(
        self, tenant_id: str, where: RuleFilter, *, after: list[str], limit: int
    ) -> list[Rule]:
        mine = [r for (t, _), r in self.rules.items() if t == tenant_id]
        return sorted(mine, key=lambda r: (r.priority, r.created_at or datetime.min, r.id))[:limit]

    async def all_enabled(self, tenant_id: str) -> list[Rule]:
        return [r for (t, _), r in self.rules.items() if t == tenant_id and r.enabled]

    async def claim_request(self, tenant_id: str, rule_id: str, request_id: str) -> bool:
        held = self.requests.setdefault((tenant_id, request_id), rule_id)
        return held == rule_id

    async def by_request(self, tenant_id: str, request_id: str) -> Rule | None:
        rule_id = self.requests.get((tenant_id, request_id))
        return None if rule_id is None else self.rules.get((tenant_id, rule_id))

    async def note_action_outcome(self, tenant_id: str, rule_id: str, *, failed: bool) -> int:
        key = (tenant_id, rule_id)
        self.failures[key] = self.failures.get(key, 0) + 1 if failed else 0
        return self.failures[key]


class FakeManagementUnitOfWork(InMemoryUnitOfWork):
    """``new_uow`` of RuleManagement in memory (the fake is its own factory)."""

    def __init__(self) -> None:
        super().__init__()
        self.store = FakeRuleStore()
        self.rules = self.store
        self.rule_versions = self.store
