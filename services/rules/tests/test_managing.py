"""RuleManagement with in-memory ports: what is checked, asked and written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.errors import Aborted, InvalidArgument, NotFound
from rules.app.auto_disable import AutoDisable, count_action_outcome
from rules.domain.actions import AddTag, ReplyWithTemplate
from rules.domain.events import RuleAutoDisabled
from rules.domain.model import Rule, Trigger
from services.rules.tests.management_fakes import (
    FakeManagementUnitOfWork,
    FakeSegments,
    FakeTemplates,
    management,
)

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)


def cond(*leaves: condition_pb2.Condition) -> bytes:
    if len(leaves) == 1:
        return leaves[0].SerializeToString()
    return condition_pb2.Condition(
        group=condition_pb2.ConditionGroup(
            operator=condition_pb2.LOGICAL_OPERATOR_AND, conditions=list(leaves)
        )
    ).SerializeToString()


def leaf(field: str, op: int, *values: str) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(field=field, operator=op, values=list(values))
    )


SEGMENT = leaf("customer.segment", condition_pb2.OPERATOR_EQUALS, "segments/s1")
REFUND = leaf("message.text", condition_pb2.OPERATOR_MATCHES_KEYWORDS, "refund")


def draft(**kw: object) -> Rule:
    values: dict[str, object] = {
        "id": "",
        "tenant_id": "t1",
        "display_name": "r",
        "trigger": Trigger.MESSAGE_RECEIVED,
        "condition": None,
        "actions": (AddTag(("vip",)),),
        "condition_blob": cond(REFUND),
    }
    values.update(kw)
    return Rule(**values)  # type: ignore[arg-type]


def setup(**kw: object) -> tuple[FakeManagementUnitOfWork, FakeSegments, object]:
    uow = FakeManagementUnitOfWork()
    segments = FakeSegments()
    segments.put("s1", 2, leaf("customer.tier", condition_pb2.OPERATOR_EQUALS, "VIP"))
    rules = management(
        uow,
        segments=segments,
        templates=FakeTemplates("replyTemplates/ok"),
        clock=lambda: T0,
        **kw,  # type: ignore[arg-type]
    )
    return uow, segments, rules


async def test_every_problem_is_reported_at_once_and_nothing_is_written() -> None:
    uow, segments, rules = setup()
    bad = draft(
        condition_blob=cond(
            leaf("customer.segment", condition_pb2.OPERATOR_EQUALS, "segments/missing"),
            leaf("message.nope", condition_pb2.OPERATOR_EQUALS, "x"),
        ),
        actions=(
            ReplyWithTemplate("replyTemplates/missing"),
            ReplyWithTemplate("replyTemplates/ok"),
        ),
        rollout_percent=0,
    )
    with pytest.raises(InvalidArgument) as caught:
        await rules.create(bad, author="m1")  # type: ignore[attr-defined]
    assert sorted(v.field for v in caught.value.violations) == [
        "rule.actions[0].reply_with_template.template",
        "rule.condition.group.conditions[1].leaf.field",
        "rule.rollout_percent",
    ]
    assert (uow.store.rules, uow.commits) == ({}, 0)
    assert segments.asked == []  # the condition did not read: its segment is not asked


async def test_a_segment_is_asked_once_and_put_in_place() -> None:
    uow, segments, rules = setup()
    twice = draft(condition_blob=cond(SEGMENT, REFUND, SEGMENT))
    saved = (await rules.create(twice, author="m1")).rule  # type: ignore[attr-defined]
    assert segments.asked == ["s1"]
    assert [(s.segment_id, s.version) for s in saved.segments] == [("s1", 2)]
    assert "customer.segment" not in repr(saved.condition)
    assert saved.creator == "m1"
    assert (saved.version, saved.created_at, saved.updated_at) == (1, T0, T0)
    assert uow.store.revisions == {"t1": 1}


async def test_a_limit_on_conditions_is_the_settings() -> None:
    from rules.domain.validation import RuleLimits

    _, _, rules = setup(limits=RuleLimits(max_conditions=1))
    with pytest.raises(InvalidArgument) as caught:
        await rules.create(draft(condition_blob=cond(REFUND, REFUND)), author="m1")  # type: ignore[attr-defined]
    assert [v.field for v in caught.value.violations] == ["rule.condition"]
    assert "at most 1 conditions" in caught.value.violations[0].description


async def test_writes_need_the_current_etag_and_an_existing_rule() -> None:
    uow, _, rules = setup()
    saved = (await rules.create(draft(), author="m1")).rule  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        await rules.update("t1", "nope", {"priority": 1}, "", author="m1")  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        await rules.update("t2", saved.id, {"priority": 1}, "", author="m1")  # type: ignore[attr-defined]
    with pytest.raises(Aborted):
        await rules.set_enabled("t1", saved.id, False, 'W/"9"', author="m1")  # type: ignore[attr-defined]
    same = await rules.set_enabled("t1", saved.id, True, saved.etag, author="m1")  # type: ignore[attr-defined]
    assert same.rule.version == 1  # already enabled: no new version
    with pytest.raises(InvalidArgument, match="no earlier version"):
        await rules.rollback("t1", saved.id, 1, "", author="m1")  # type: ignore[attr-defined]
    assert len(uow.store.history[("t1", saved.id)]) == 1


async def test_auto_disable_counts_in_a_row_and_tells_the_creator() -> None:
    uow, _, rules = setup()
    saved = (await rules.create(draft(), author="ana")).rule  # type: ignore[attr-defined]
    policy = AutoDisable(failures=2)

    async def outcome(failed: bool) -> RuleAutoDisabled | None:
        return await count_action_outcome(
            uow, "t1", saved.id, failed=failed, error="e", run_id="run", now=T0, policy=policy
        )

    assert await outcome(True) is None
    assert await outcome(False) is None
    assert await outcome(True) is None
    event = await outcome(True)
    assert event is not None
    assert (event.rule_version, event.owners, event.failures) == (2, ("ana",), 2)
    assert not uow.store.rules[("t1", saved.id)].enabled
    assert await outcome(True) is None  # already disabled
    assert (
        await count_action_outcome(
            uow, "t1", saved.id, failed=True, error="", run_id="", now=T0, policy=AutoDisable(0)
        )
        is None
    )
