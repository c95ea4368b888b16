"""A rule's meaningful limits, enforced by the domain whatever the transport."""

from __future__ import annotations

import pytest

from crosstalk_common.errors import InvalidArgument
from rules.domain.model import (
    MAX_ACTIONS,
    MAX_RULE_BYTES,
    MAX_TAG_LENGTH,
    MAX_TAGS_PER_ACTION,
    AddTag,
    Rule,
    Trigger,
)


def rule(*actions: AddTag, display_name: str = "VIP", condition: bytes = b"") -> Rule:
    return Rule(
        id="",
        tenant_id="t1",
        display_name=display_name,
        trigger=Trigger.MESSAGE_RECEIVED,
        condition=None,
        actions=actions,
        condition_blob=condition,
    )


def refused(candidate: Rule) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        candidate.validate()
    return [v.field for v in caught.value.violations]


def test_the_largest_allowed_rule_is_accepted() -> None:
    full = AddTag(
        tuple(f"{i:02d}" + "t" * (MAX_TAG_LENGTH - 2) for i in range(MAX_TAGS_PER_ACTION))
    )
    rule(full, display_name="n" * 200).validate()
    rule(*[AddTag(("vip",))] * MAX_ACTIONS).validate()


def test_names_tags_and_actions_are_bounded() -> None:
    assert refused(rule(AddTag(("vip",)), display_name="n" * 201)) == ["rule.display_name"]
    assert refused(rule(AddTag(("t" * (MAX_TAG_LENGTH + 1),)))) == [
        "rule.actions[0].add_tag.tags[0]"
    ]
    assert refused(rule(AddTag(("t",) * (MAX_TAGS_PER_ACTION + 1)))) == [
        "rule.actions[0].add_tag.tags"
    ]
    assert refused(rule(*[AddTag(("vip",))] * (MAX_ACTIONS + 1))) == ["rule.actions"]


def test_a_whole_rule_is_bounded() -> None:
    assert refused(rule(AddTag(("vip",)), condition=b"c" * MAX_RULE_BYTES)) == ["rule"]
