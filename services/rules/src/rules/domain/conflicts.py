"""The conflict check at save (core_loop §5): warnings, never errors.

Two enabled rules on the same trigger conflict when their conditions can both
hold and their actions contradict: one adds a tag the other removes, they
assign (or escalate) to different members or teams, reply with different
templates, or set the priority, status or lifecycle stage to different values.

"Can both hold" is decided conservatively from the leaves each condition
requires (those joined by AND from the root): two required leaves on the same
fact that cannot both be true (equal to different values, disjoint sets or
ranges, empty and not empty, has and has not a tag) make the pair exclusive.
Anything less certain (OR, NOT) counts as "can hold", so a warning may be a
false alarm, never a miss of that kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crosstalk_common.conditions.model import Leaf, Node, Op
from rules.domain.actions import (
    Action,
    AddTag,
    Assign,
    Escalate,
    RemoveTag,
    ReplyWithTemplate,
    SetLifecycleStage,
    SetPriority,
    SetStatus,
)
from rules.domain.model import Rule


@dataclass(frozen=True)
class Conflict:
    code: str
    message: str
    other_rule_id: str


def conflicts_with(rule: Rule, others: Iterable[Rule]) -> list[Conflict]:
    """What ``rule`` (about to be saved) contradicts among the tenant's ``others``."""
    if not rule.enabled:
        return []
    found: list[Conflict] = []
    for other in others:
        if other.id == rule.id or not other.enabled or other.trigger is not rule.trigger:
            continue
        if not can_both_hold(rule.condition, other.condition):
            continue
        for code, message in contradictions(rule.actions, other.actions):
            found.append(Conflict(code, f"{message} as rule {other.display_name!r}", other.id))
    return found


def contradictions(mine: Sequence[Action], theirs: Sequence[Action]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    added, removed = _labels(mine, AddTag), _labels(mine, RemoveTag)
    their_added, their_removed = _labels(theirs, AddTag), _labels(theirs, RemoveTag)
    clash = sorted((added & their_removed) | (removed & their_added))
    if clash:
        found.append(
            ("CONTRADICTING_TAGS", f"adds or removes the tags {', '.join(clash)} opposite")
        )
    my_assignees, their_assignees = _assignees(mine), _assignees(theirs)
    if my_assignees and their_assignees and my_assignees.isdisjoint(their_assignees):
        found.append(
            (
                "DIFFERENT_ASSIGNEES",
                f"assigns to {', '.join(sorted(my_assignees))}, not "
                f"{', '.join(sorted(their_assignees))},",
            )
        )
    my_replies = {a.template for a in mine if isinstance(a, ReplyWithTemplate)}
    their_replies = {a.template for a in theirs if isinstance(a, ReplyWithTemplate)}
    if my_replies and their_replies and my_replies != their_replies:
        found.append(("DIFFERENT_REPLIES", "replies with a different template"))
    for kind, attribute, code in (
        (SetPriority, "priority", "DIFFERENT_PRIORITIES"),
        (SetStatus, "status", "DIFFERENT_STATUSES"),
        (SetLifecycleStage, "stage", "DIFFERENT_STAGES"),
    ):
        values = {getattr(a, attribute) for a in mine if isinstance(a, kind)}
        other_values = {getattr(a, attribute) for a in theirs if isinstance(a, kind)}
        if values and other_values and values != other_values:
            found.append(
                (
                    code,
                    f"sets the {attribute} to {', '.join(sorted(values))}, not "
                    f"{', '.join(sorted(other_values))},",
                )
            )
    return found


def _labels(actions: Sequence[Action], kind: type[AddTag] | type[RemoveTag]) -> set[str]:
    return {
        tag.strip().lower() for a in actions if isinstance(a, kind) for tag in a.tags if tag.strip()
    }


def _assignees(actions: Sequence[Action]) -> set[str]:
    return {
        a.member or a.group
        for a in actions
        if isinstance(a, Assign | Escalate) and (a.member or a.group)
    }


# --- can two conditions both hold? ---------------------------------------------------------


def can_both_hold(first: Node | None, second: Node | None) -> bool:
    leaves = [*required_leaves(first), *required_leaves(second)]
    for i, leaf in enumerate(leaves):
        for other in leaves[i + 1 :]:
            if leaf.field == other.field and exclusive(leaf, other):
                return False
    return True


def required_leaves(node: Node | None) -> list[Leaf]:
    """The leaves that must all hold for ``node`` to hold (AND chains from the root)."""
    if node is None:
        return []
    if isinstance(node, Leaf):
        return [node]
    if node.op == "and" or (node.op == "or" and len(node.children) == 1):
        return [leaf for child in node.children for leaf in required_leaves(child)]
    return []


_EMPTY_OK = frozenset({Op.IS_EMPTY, Op.NOT_EQUALS, Op.NOT_IN, Op.NOT_CONTAINS, Op.HAS_NO_TAG})


def exclusive(a: Leaf, b: Leaf) -> bool:
    """Whether two leaves on the same fact can never both hold."""
    for x, y in ((a, b), (b, a)):
        if x.operator is Op.IS_EMPTY and y.operator not in _EMPTY_OK:
            return True
        if (
            x.operator is Op.EQUALS
            and y.operator in (Op.NOT_EQUALS, Op.NOT_IN)
            and x.values[0] in y.values
        ):
            return True
        if x.operator is Op.HAS_NO_TAG and y.operator in (Op.HAS_ANY_TAG, Op.HAS_ALL_TAGS):
            banned = set(x.values)
            if y.operator is Op.HAS_ALL_TAGS and banned & set(y.values):
                return True
            if y.operator is Op.HAS_ANY_TAG and set(y.values) <= banned:
                return True
    allowed_a, allowed_b = _allowed_values(a), _allowed_values(b)
    if allowed_a is not None and allowed_b is not None and not allowed_a & allowed_b:
        return True
    range_a, range_b = _range(a), _range(b)
    if range_a is not None and range_b is not None:
        low = max(range_a[0], range_b[0], key=lambda bound: bound[0])
        high = min(range_a[1], range_b[1], key=lambda bound: bound[0])
        if low[0] > high[0] or (low[0] == high[0] and not (low[1] and high[1])):
            return True
    return False


def _allowed_values(leaf: Leaf) -> set[Any] | None:
    if leaf.operator is Op.EQUALS:
        return {leaf.values[0]}
    if leaf.operator is Op.IN:
        return set(leaf.values)
    return None


_INF = float("inf")


def _range(leaf: Leaf) -> tuple[tuple[Any, bool], tuple[Any, bool]] | None:
    """(low, inclusive), (high, inclusive) of a numeric leaf, or None."""
    values = leaf.values
    if not values or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        return None
    op = leaf.operator
    if op is Op.EQUALS:
        return (values[0], True), (values[0], True)
    if op is Op.GT:
        return (values[0], False), (_INF, False)
    if op is Op.GTE:
        return (values[0], True), (_INF, False)
    if op is Op.LT:
        return (-_INF, False), (values[0], False)
    if op is Op.LTE:
        return (-_INF, False), (values[0], True)
    if op is Op.BETWEEN:
        return (values[0], True), (values[1], True)
    return None
