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
from rules.app.ports import SegmentCondition, UnitOfWork
from rules.domain.model import Trigger
from rules.domain.validation import RuleLimits


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
