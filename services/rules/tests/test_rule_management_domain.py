"""Rule management's pure rules: validation, conflicts, segments, versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from crosstalk_common.conditions.model import Group, Leaf, Op
from crosstalk_common.egress import EgressPolicy
from rules.domain.actions import (
    AddTag,
    AdjustScore,
    Assign,
    CallWebhook,
    Escalate,
    Notify,
    RemoveTag,
    ReplyWithTemplate,
    SetPriority,
)
from rules.domain.conflicts import can_both_hold, conflicts_with, exclusive
from rules.domain.model import Rule, TimeTrigger, Trigger
from rules.domain.segments import SEGMENT_FACT, inline_segments, segment_leaves
from rules.domain.validation import (
    RuleLimits,
    cron_problem,
    rule_problems,
    webhook_url_problem,
)
from rules.domain.versions import next_version, rolled_back

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def rule(rule_id: str = "r", **kw: object) -> Rule:
    values: dict[str, object] = {
        "id": rule_id,
        "tenant_id": "t",
        "display_name": rule_id,
        "trigger": Trigger.MESSAGE_RECEIVED,
        "condition": None,
        "actions": (AddTag(("vip",)),),
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    return Rule(**values)  # type: ignore[arg-type]


def fields(r: Rule, limits: RuleLimits | None = None) -> list[str]:
    return [v.field for v in rule_problems(r, limits or RuleLimits())]


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("0 9 * * MON", True),
        ("*/15 8-18 * * 1-5", True),
        ("61 * * * *", False),
        ("0 9 * * FUNDAY", False),
        ("* * *", False),
        ("0 0 9 * * MON", False),  # six fields (seconds) is not cron here
        ("0 9 30 2 *", False),  # parses, names no date: never fires
        ("0 9 29 2 *", True),  # leap years
        ("", False),
    ],
)
def test_cron_expressions(expression: str, ok: bool) -> None:
    assert (cron_problem(expression) is None) is ok


@pytest.mark.parametrize(
    ("action", "refused"),
    [
        (Assign(member="members/ana"), []),
        (Assign(group="groups/after-sales", strategy="least_busy"), []),
        (Assign(strategy="round_robin"), ["rule.actions[0].assign"]),
        (Assign(member="ana"), ["rule.actions[0].assign.member"]),
        (Assign(member="members/"), ["rule.actions[0].assign.member"]),
        (Assign(member="groups/g1"), ["rule.actions[0].assign.member"]),
        (Assign(group="groups/a/b"), ["rule.actions[0].assign.group"]),
        (Escalate(), []),
        (Escalate(member="members/lead", group="teams/x"), ["rule.actions[0].escalate.group"]),
        (
            Notify(members=("members/a", "b", "")),
            [f"rule.actions[0].notify.members[{i}]" for i in (1, 2)],
        ),
        (Notify(notify_assignee=True), []),
    ],
)
def test_actions_name_members_and_groups_by_their_resource_names(
    action: object, refused: list[str]
) -> None:
    assert fields(rule(actions=(action,))) == refused


@pytest.mark.parametrize(
    ("delta", "ok"),
    [(5, True), (-1_000_000_000, True), (0, False), (1_000_000_001, False), (-(2**63), False)],
)
def test_a_score_action_asks_for_a_change_customers_can_make(delta: int, ok: bool) -> None:
    """Customers refuses a change of 0 or past its limit: a rule asking for one would
    fail every time it fired, so it is refused when saved."""
    refused = [] if ok else ["rule.actions[1].adjust_score.delta"]
    assert fields(rule(actions=(AddTag(("vip",)), AdjustScore(delta, "why")))) == refused


@pytest.mark.parametrize(
    ("seconds", "ok"), [(0, True), (400 * 86400, True), (-1, False), (315_576_000_000, False)]
)
def test_a_cooldown_is_up_to_400_days(seconds: int, ok: bool) -> None:
    """A longer one (a Duration may name 10,000 years) was stored in a 4-byte column:
    a 500 on PostgreSQL."""
    assert fields(rule(cooldown_seconds=seconds)) == ([] if ok else ["rule.cooldown"])


def test_timer_triggers_need_their_time_trigger_and_only_they_take_one() -> None:
    schedule = rule(trigger=Trigger.SCHEDULE, time_trigger=TimeTrigger(cron="0 9 * * MON"))
    assert fields(schedule) == []
    assert fields(replace(schedule, time_trigger=TimeTrigger(cron="0 25 * * *"))) == [
        "rule.time_trigger.cron"
    ]
    zoned = TimeTrigger(cron="0 9 * * MON", time_zone="Mars/Olympus")
    assert fields(replace(schedule, time_trigger=zoned)) == ["rule.time_trigger.time_zone"]
    waiting = rule(trigger=Trigger.NO_REPLY_TIMEOUT)
    assert fields(waiting) == ["rule.time_trigger.delay"]
    assert fields(replace(waiting, time_trigger=TimeTrigger(delay_seconds=86400))) == []
    assert fields(rule(time_trigger=TimeTrigger(delay_seconds=60))) == ["rule.time_trigger"]


def test_webhooks_are_https_and_loopback_http_only_in_dev() -> None:
    assert webhook_url_problem("https://hooks.example.com/x", allow_loopback_http=False) is None
    assert webhook_url_problem("http://hooks.example.com/x", allow_loopback_http=True)
    assert webhook_url_problem("http://127.0.0.1:8080/x", allow_loopback_http=False)
    loopback = EgressPolicy.parse("127.0.0.0/8")
    assert (
        webhook_url_problem("http://127.0.0.1:8080/x", allow_loopback_http=True, egress=loopback)
        is None
    )
    assert (
        webhook_url_problem("http://localhost/x", allow_loopback_http=True, egress=loopback) is None
    )
    # Loopback http in dev still needs the egress policy to allow the address.
    assert "public address" in str(
        webhook_url_problem("http://127.0.0.1:8080/x", allow_loopback_http=True)
    )
    assert webhook_url_problem("ftp://example.com", allow_loopback_http=True)
    assert webhook_url_problem("https://user:pw@example.com", allow_loopback_http=False)
    assert webhook_url_problem("not a url", allow_loopback_http=False)
    bad = rule(actions=(AddTag(("a",)), CallWebhook("http://example.com")))
    assert fields(bad) == ["rule.actions[1].call_webhook.url"]


def test_webhooks_to_private_addresses_are_refused_unless_allowed() -> None:
    for url in [
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://localhost:9901/quitquitquit",
        "https://api.localhost/x",
        "https://192.168.1.1/x",
    ]:
        problem = webhook_url_problem(url, allow_loopback_http=False)
        assert problem is not None, url
        assert "public address" in problem, url
    office = EgressPolicy.parse("10.0.0.0/8:443")

    def office_problem(url: str) -> str | None:
        return webhook_url_problem(url, allow_loopback_http=False, egress=office)

    assert office_problem("https://10.0.0.5/hook") is None
    assert office_problem("https://10.0.0.5:8443/hook")  # another port
    bad = rule(actions=(CallWebhook("https://169.254.169.254/"),))
    assert fields(bad) == ["rule.actions[0].call_webhook.url"]


def test_rollout_is_one_to_a_hundred_and_descriptions_are_bounded() -> None:
    assert fields(rule(rollout_percent=1)) == []
    assert fields(rule(rollout_percent=0)) == ["rule.rollout_percent"]
    assert fields(rule(rollout_percent=101)) == ["rule.rollout_percent"]
    assert fields(rule(description="x" * 2001)) == ["rule.description"]


def leaf(field: str, op: Op, *values: object) -> Leaf:
    return Leaf(field, op, tuple(values))


@pytest.mark.parametrize(
    ("a", "b", "apart"),
    [
        (leaf("f", Op.EQUALS, "a"), leaf("f", Op.EQUALS, "b"), True),
        (leaf("f", Op.EQUALS, "a"), leaf("f", Op.EQUALS, "a"), False),
        (leaf("f", Op.EQUALS, "a"), leaf("f", Op.NOT_EQUALS, "a"), True),
        (leaf("f", Op.IN, "a", "b"), leaf("f", Op.IN, "c"), True),
        (leaf("f", Op.IN, "a", "b"), leaf("f", Op.IN, "b", "c"), False),
        (leaf("n", Op.GT, 5), leaf("n", Op.LT, 3), True),
        (leaf("n", Op.GTE, 5), leaf("n", Op.LTE, 5), False),
        (leaf("n", Op.GT, 5), leaf("n", Op.LTE, 5), True),
        (leaf("n", Op.BETWEEN, 1, 3), leaf("n", Op.EQUALS, 4), True),
        (leaf("t", Op.HAS_NO_TAG, "vip"), leaf("t", Op.HAS_ALL_TAGS, "vip", "x"), True),
        (leaf("t", Op.HAS_NO_TAG, "vip"), leaf("t", Op.HAS_ANY_TAG, "vip", "x"), False),
        (leaf("f", Op.IS_EMPTY), leaf("f", Op.EQUALS, "a"), True),
        (leaf("f", Op.IS_EMPTY), leaf("f", Op.NOT_EQUALS, "a"), False),
    ],
)
def test_leaves_that_cannot_both_hold(a: Leaf, b: Leaf, apart: bool) -> None:
    assert exclusive(a, b) is apart
    assert exclusive(b, a) is apart


def test_only_required_leaves_decide_and_or_counts_as_can_hold() -> None:
    email = leaf("message.channel", Op.EQUALS, "email")
    chat = leaf("message.channel", Op.EQUALS, "whatsapp")
    assert not can_both_hold(Group("and", (email, leaf("x", Op.GT, 1))), chat)
    assert can_both_hold(Group("or", (email, leaf("x", Op.GT, 1))), chat)
    assert can_both_hold(None, chat)


def test_contradicting_actions_are_warned_about_once_per_kind() -> None:
    mine = rule(
        "mine",
        actions=(
            AddTag(("VIP",)),
            Assign(member="members/ana"),
            ReplyWithTemplate("replyTemplates/a"),
            SetPriority("high"),
        ),
    )
    theirs = rule(
        "theirs",
        actions=(
            RemoveTag(("vip",)),
            Assign(member="members/bo"),
            ReplyWithTemplate("replyTemplates/b"),
            SetPriority("low"),
        ),
    )
    codes = [c.code for c in conflicts_with(mine, [theirs])]
    assert codes == [
        "CONTRADICTING_TAGS",
        "DIFFERENT_ASSIGNEES",
        "DIFFERENT_REPLIES",
        "DIFFERENT_PRIORITIES",
    ]
    assert conflicts_with(mine, [replace(theirs, enabled=False)]) == []
    assert conflicts_with(mine, [replace(theirs, trigger=Trigger.CUSTOMER_CREATED)]) == []
    same = replace(theirs, actions=mine.actions)
    assert conflicts_with(mine, [same]) == []


def test_segment_leaves_are_replaced_by_the_copied_condition() -> None:
    vip = leaf("customer.tier", Op.EQUALS, "VIP")
    tree = Group(
        "and",
        (
            leaf("message.text", Op.MATCHES_KEYWORDS, "refund"),
            leaf(SEGMENT_FACT, Op.NOT_EQUALS, "segments/s1"),
        ),
    )
    assert [path for path, _ in segment_leaves(tree)] == [".group.conditions[1].leaf.values"]
    assert inline_segments(tree, {"s1": vip}) == Group(
        "and", (tree.children[0], Group("not", (vip,)))
    )


def test_a_rollback_is_a_new_version_with_the_earlier_content() -> None:
    v1 = rule(display_name="first", creator="ana", priority=1)
    later = datetime(2026, 12, 2, tzinfo=UTC)
    v2 = next_version(v1, replace(v1, display_name="second", priority=9), later)
    assert (v2.version, v2.display_name, v2.created_at, v2.updated_at) == (2, "second", T0, later)
    v3 = rolled_back(v2, replace(v1, creator="someone else"), later)
    assert (v3.version, v3.display_name, v3.priority, v3.creator) == (3, "first", 1, "ana")
