"""Rule management on a migrated database (SQLite and PostgreSQL): versions,
etags, rollback, enable/disable/delete, ListRules' filters and order, the
tenant's rule revision, saved segments copied at save, and conflict warnings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crosstalk.common.v1 import condition_pb2
from crosstalk.rules.v1 import resources_pb2
from crosstalk_common.errors import Aborted, InvalidArgument, NotFound
from rules.adapters.mapping import rule_from_pb
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.ports import RuleFilter
from rules.domain.model import Rule, Trigger
from services.rules.tests.management_fakes import FakeSegments, FakeTemplates, management

NewUow = Callable[[], RulesUnitOfWork]
MEMBER = "member-1"


def leaf(field: str, op: int, *values: str) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(field=field, operator=op, values=list(values))
    )


def all_of(*conditions: condition_pb2.Condition) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        group=condition_pb2.ConditionGroup(
            operator=condition_pb2.LOGICAL_OPERATOR_AND, conditions=list(conditions)
        )
    )


def proto(
    name: str,
    *,
    condition: condition_pb2.Condition | None = None,
    tags: tuple[str, ...] = ("vip",),
    remove: tuple[str, ...] = (),
    priority: int = 0,
    enabled: bool = True,
    description: str = "",
) -> resources_pb2.Rule:
    actions = [resources_pb2.Action(add_tag=resources_pb2.AddTagAction(tags=list(tags)))]
    if remove:
        actions.append(
            resources_pb2.Action(remove_tag=resources_pb2.RemoveTagAction(tags=list(remove)))
        )
    return resources_pb2.Rule(
        display_name=name,
        description=description,
        trigger=resources_pb2.TRIGGER_MESSAGE_RECEIVED,
        condition=condition
        or leaf("message.channel", condition_pb2.OPERATOR_EQUALS, "CHANNEL_EMAIL"),
        actions=actions,
        priority=priority,
        enabled=enabled,
    )


def draft(tenant: str, name: str, **kw: object) -> Rule:
    return rule_from_pb(tenant, proto(name, **kw))  # type: ignore[arg-type]


async def test_create_keeps_everything_and_every_change_is_a_version(
    new_uow: NewUow, tenant: str
) -> None:
    rules = management(new_uow)
    saved = (
        await rules.create(draft(tenant, "Email VIPs", description="tag e-mail"), author=MEMBER)
    ).rule
    assert saved.version == 1
    assert saved.etag == 'W/"1"'
    got = await rules.get(tenant, saved.id)
    assert got.description == "tag e-mail"
    assert got.creator == MEMBER
    assert got.condition is not None

    renamed = await rules.update(
        tenant, saved.id, {"display_name": "E-mail VIPs"}, saved.etag, author="member-2"
    )
    assert renamed.rule.version == 2
    assert renamed.rule.description == "tag e-mail"
    with pytest.raises(Aborted):  # the etag of version 1 is stale now
        await rules.update(tenant, saved.id, {"priority": 5}, saved.etag, author=MEMBER)

    versions = await rules.versions(tenant, saved.id, before=None, limit=10)
    assert [v.rule.version for v in versions] == [2, 1]
    assert [v.rule.display_name for v in versions] == ["E-mail VIPs", "Email VIPs"]
    assert [v.author for v in versions] == ["member-2", MEMBER]
    assert [v.rule.version for v in await rules.versions(tenant, saved.id, before=2, limit=10)] == [
        1
    ]

    back = await rules.rollback(tenant, saved.id, 1, renamed.rule.etag, author=MEMBER)
    assert back.rule.version == 3
    assert back.rule.display_name == "Email VIPs"
    assert (await rules.get(tenant, saved.id)).display_name == "Email VIPs"
    with pytest.raises(InvalidArgument):
        await rules.rollback(tenant, saved.id, 3, "", author=MEMBER)


async def test_enable_disable_delete_bump_the_revision_the_engine_reads(
    new_uow: NewUow, tenant: str
) -> None:
    rules = management(new_uow)

    async def seen() -> tuple[int, list[str]]:
        """The tenant's rule revision and enabled message rules, as the engine reads them."""
        async with new_uow() as uow:
            revision = await uow.rules.revision(tenant)
            enabled = await uow.rules.enabled_for(tenant, Trigger.MESSAGE_RECEIVED)
        return revision, [r.id for r in enabled]

    saved = (await rules.create(draft(tenant, "r"), author=MEMBER)).rule
    created_at, ids = await seen()
    assert ids == [saved.id]
    off = await rules.set_enabled(tenant, saved.id, False, saved.etag, author=MEMBER)
    assert not off.rule.enabled
    assert off.rule.version == 2
    revision, ids = await seen()
    assert revision > created_at
    assert ids == []
    on = await rules.set_enabled(tenant, saved.id, True, "", author=MEMBER)
    assert on.rule.enabled
    assert on.rule.version == 3
    enabled_at, ids = await seen()
    assert enabled_at > revision
    assert ids == [saved.id]
    renamed = await rules.update(tenant, saved.id, {"display_name": "s"}, "", author=MEMBER)
    updated_at, _ = await seen()
    assert updated_at > enabled_at
    with pytest.raises(Aborted):
        await rules.delete(tenant, saved.id, off.rule.etag)
    await rules.delete(tenant, saved.id, renamed.rule.etag)
    with pytest.raises(NotFound):
        await rules.get(tenant, saved.id)
    deleted_at, ids = await seen()
    assert deleted_at > updated_at
    assert ids == []


async def test_list_filters_and_orders_by_priority_then_creation(
    new_uow: NewUow, tenant: str
) -> None:
    rules = management(new_uow)
    late = (await rules.create(draft(tenant, "late", priority=5), author=MEMBER)).rule
    first = (await rules.create(draft(tenant, "first", priority=-1), author=MEMBER)).rule
    a = (await rules.create(draft(tenant, "a", tags=("Refund",)), author=MEMBER)).rule
    b = (
        await rules.create(
            draft(tenant, "b", enabled=False, description="50% OFF_promo"), author=MEMBER
        )
    ).rule
    await rules.create(draft("other-" + tenant, "theirs", priority=-9), author=MEMBER)

    everything = await rules.page(tenant, RuleFilter(), after=[], limit=10)
    assert [r.id for r in everything] == [first.id, a.id, b.id, late.id]
    two = await rules.page(tenant, RuleFilter(), after=[], limit=2)
    assert two[-1].created_at is not None
    keys = [str(two[-1].priority), two[-1].created_at.isoformat(), two[-1].id]
    rest = await rules.page(tenant, RuleFilter(), after=keys, limit=10)
    assert [r.id for r in [*two, *rest]] == [r.id for r in everything]

    assert [
        r.id for r in await rules.page(tenant, RuleFilter(enabled=False), after=[], limit=9)
    ] == [b.id]
    assert len(await rules.page(tenant, RuleFilter(enabled=True), after=[], limit=9)) == 3
    assert [
        r.id for r in await rules.page(tenant, RuleFilter(tag="refund"), after=[], limit=9)
    ] == [a.id]
    assert await rules.page(tenant, RuleFilter(tag="refun"), after=[], limit=9) == []
    found = await rules.page(tenant, RuleFilter(query="% off_"), after=[], limit=9)
    assert [r.id for r in found] == [b.id]  # % and _ are text, not wildcards
    assert await rules.page(tenant, RuleFilter(query="x%"), after=[], limit=9) == []
    assert await rules.page(tenant, RuleFilter(trigger=Trigger.SCHEDULE), after=[], limit=9) == []


async def test_a_saved_segment_is_copied_with_its_version(new_uow: NewUow, tenant: str) -> None:
    segments = FakeSegments()
    segments.put("vips", 4, leaf("customer.tier", condition_pb2.OPERATOR_EQUALS, "VIP"))
    rules = management(new_uow, segments=segments)
    condition = all_of(
        leaf("message.text", condition_pb2.OPERATOR_MATCHES_KEYWORDS, "refund"),
        leaf("customer.segment", condition_pb2.OPERATOR_EQUALS, "segments/vips"),
    )
    saved = (
        await rules.create(draft(tenant, "vip refunds", condition=condition), author=MEMBER)
    ).rule
    assert [(s.segment_id, s.version) for s in saved.segments] == [("vips", 4)]
    stored = await rules.get(tenant, saved.id)
    assert stored.segments[0].version == 4
    assert stored.condition == saved.condition
    from crosstalk_common.conditions.evaluate import evaluate

    assert stored.condition is not None
    assert evaluate(stored.condition, {"message.text": "a refund", "customer.tier": "VIP"})
    assert not evaluate(stored.condition, {"message.text": "a refund", "customer.tier": "Gold"})

    # The segment changes: the rule keeps its copy until it is saved again.
    segments.put("vips", 5, leaf("customer.tier", condition_pb2.OPERATOR_EQUALS, "Gold"))
    assert (await rules.get(tenant, saved.id)).segments[0].version == 4
    again = await rules.update(tenant, saved.id, {"priority": 2}, "", author=MEMBER)
    assert again.rule.segments[0].version == 5

    missing = all_of(leaf("customer.segment", condition_pb2.OPERATOR_EQUALS, "segments/nope"))
    with pytest.raises(InvalidArgument) as caught:
        await rules.create(draft(tenant, "x", condition=missing), author=MEMBER)
    assert [v.field for v in caught.value.violations] == [
        "rule.condition.group.conditions[0].leaf.values[0]"
    ]


async def test_contradicting_rules_save_with_warnings(new_uow: NewUow, tenant: str) -> None:
    rules = management(new_uow)
    adds = (await rules.create(draft(tenant, "adds vip", tags=("VIP",)), author=MEMBER)).rule
    removes = await rules.create(
        draft(tenant, "removes vip", tags=("other",), remove=("vip",)), author=MEMBER
    )
    assert [(w.code, w.other_rule_id) for w in removes.warnings] == [
        ("CONTRADICTING_TAGS", adds.id)
    ]
    # Conditions that cannot both hold: no warning.
    chat_only = leaf("message.channel", condition_pb2.OPERATOR_EQUALS, "CHANNEL_WHATSAPP")
    apart = await rules.create(
        draft(tenant, "chat", condition=chat_only, tags=("x",), remove=("vip",)), author=MEMBER
    )
    assert apart.warnings == ()
    # A disabled rule is not in conflict.
    await rules.set_enabled(tenant, adds.id, False, "", author=MEMBER)
    again = await rules.update(tenant, removes.rule.id, {"priority": 1}, "", author=MEMBER)
    assert again.warnings == ()


async def test_bad_rules_are_refused_with_field_paths(new_uow: NewUow, tenant: str) -> None:
    rules = management(new_uow, templates=FakeTemplates("replyTemplates/known"))
    body = proto(
        "bad",
        condition=all_of(
            leaf("message.nope", condition_pb2.OPERATOR_EQUALS, "x"),
            leaf("message.sentiment.score", condition_pb2.OPERATOR_LT, "very"),
        ),
    )
    body.actions.add().reply_with_template.template = "replyTemplates/missing"
    body.actions.add().reply_with_template.template = "replyTemplates/known"
    body.actions.add().call_webhook.url = "http://example.com/hook"
    body.rollout_percent = 101
    with pytest.raises(InvalidArgument) as caught:
        await rules.create(rule_from_pb(tenant, body), author=MEMBER)
    fields = {v.field for v in caught.value.violations}
    assert fields == {
        "rule.rollout_percent",
        "rule.actions[3].call_webhook.url",
        "rule.condition.group.conditions[0].leaf.field",
        "rule.condition.group.conditions[1].leaf.values",
        "rule.actions[1].reply_with_template.template",
    }
    async with new_uow() as uow:
        assert await uow.rule_versions.listed(tenant, RuleFilter(), after=[], limit=5) == []


async def test_a_repeated_request_id_returns_the_first_rule(new_uow: NewUow, tenant: str) -> None:
    rules = management(new_uow)
    request = "6b0c1c52-5a55-4a31-9d36-2f1d8f5d3c11"
    first = (await rules.create(draft(tenant, "once"), author=MEMBER, request_id=request)).rule
    again = (await rules.create(draft(tenant, "twice"), author=MEMBER, request_id=request)).rule
    assert again.id == first.id
    assert again.display_name == "once"
    listed = await rules.page(tenant, RuleFilter(), after=[], limit=10)
    assert [r.id for r in listed] == [first.id]
    theirs = await rules.create(draft("other-" + tenant, "x"), author=MEMBER, request_id=request)
    assert theirs.rule.id != first.id
    fresh = await rules.create(draft(tenant, "no id"), author=MEMBER)
    assert fresh.rule.id != first.id

    # Two requests that both miss the first lookup: the second to claim the id
    # gets the first's rule, and its own rule is not written.
    async with new_uow() as uow:
        held = await uow.rule_versions.claim_request(tenant, fresh.rule.id, request)
    assert not held
