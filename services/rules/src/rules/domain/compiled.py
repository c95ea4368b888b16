"""Conditions compiled for evaluating many rules on one event (core_loop §2).

``evaluation.trace_condition`` walks one rule's tree and works out each of its
leaves. A tenant's rules share most of their leaves (the same tier, the same
language, sentiment negative), and a message that many rules match would have
the same leaves worked out, and traced, once per rule. Compiled:

- every distinct leaf of the tenant's rules gets a number (``LeafNumbers``);
- each rule's condition becomes two closures over those numbers: whether it
  holds (short cut) and its whole trace (built only for a rule that holds:
  a miss records no run);
- one event's ``EventLeaves`` works out each leaf at most once, and each fact's
  rendering for the trace at most once, however many rules read them.

The results and traces are those of ``trace_condition`` (a property test holds
the two together). The closures refer to each other and to nothing that refers
back to them: a compiled rule set is freed by reference counting alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from crosstalk_common.conditions.evaluate import leaf_matches
from crosstalk_common.conditions.model import Leaf, Node, Op
from rules.domain.evaluation import (
    Evaluation,
    Trace,
    fact_trace,
    fact_view,
    group_trace,
    keyword_shown,
    keyword_trace,
    made_evaluation,
)
from rules.domain.model import Rule


class LeafNumbers:
    """Every distinct leaf of a rule set, numbered from 0 in order of first sight."""

    def __init__(self) -> None:
        self.leaves: list[Leaf] = []
        self._numbers: dict[Leaf, int] = {}

    def number(self, leaf: Leaf) -> int:
        found = self._numbers.get(leaf)
        if found is None:
            found = self._numbers[leaf] = len(self.leaves)
            self.leaves.append(leaf)
        return found


class EventLeaves:
    """The leaves of a rule set on one event, each worked out when first asked.

    ``hits``: for each keyword leaf (by number) that hit, the keyword its trace
    names; a keyword leaf not in it did not hit. ``held``: leaves (by number)
    already known to hold (the gates the indexes found), not worked out again.
    """

    __slots__ = (
        "_facts",
        "_held",
        "_hits",
        "_leaves",
        "_now",
        "_results",
        "_shown",
        "_traces",
        "_views",
    )

    def __init__(
        self,
        leaves: Sequence[Leaf],
        facts: Mapping[str, Any],
        now: datetime,
        hits: Mapping[int, str],
        *,
        held: Collection[int] = (),
    ) -> None:
        self._leaves = leaves
        self._facts = facts
        self._now = now
        self._hits = hits
        self._held = held
        self._results: dict[int, bool] = {}
        self._traces: dict[int, Trace] = {}
        # field -> how traces show it: keyword_shown for keyword leaves, else fact_view
        self._shown: dict[str, tuple[str, ...]] = {}
        self._views: dict[str, tuple[tuple[str, ...], str]] = {}

    def result(self, number: int) -> bool:
        found = self._results.get(number)
        if found is None:
            leaf = self._leaves[number]
            if leaf.operator is Op.MATCHES_KEYWORDS:
                found = number in self._hits
            elif number in self._held:
                found = True
            else:
                found = leaf_matches(leaf, self._facts.get(leaf.field), self._now)
            self._results[number] = found
        return found

    def trace(self, number: int) -> Trace:
        found = self._traces.get(number)
        if found is not None:
            return found
        leaf = self._leaves[number]
        field = leaf.field
        if leaf.operator is Op.MATCHES_KEYWORDS:
            shown = self._shown.get(field)
            if shown is None:
                shown = self._shown[field] = keyword_shown(field, self._facts)
            found = keyword_trace(leaf, self._hits.get(number), shown)
        else:
            view = self._views.get(field)
            if view is None:
                view = self._views[field] = fact_view(field, self._facts.get(field))
            found = fact_trace(leaf, self.result(number), view)
        self._traces[number] = found
        return found


Holds = Callable[[EventLeaves], bool]
Traces = Callable[[EventLeaves], Trace]


class CompiledCondition:
    """One rule's condition as closures over leaf numbers."""

    __slots__ = ("holds", "trace")

    def __init__(self, holds: Holds, trace: Traces) -> None:
        self.holds = holds
        self.trace = trace


def compile_condition(node: Node, numbers: LeafNumbers) -> CompiledCondition:
    """``node`` compiled, its leaves numbered in ``numbers``."""
    if isinstance(node, Leaf):
        return _leaf(numbers.number(node))
    if node.op == "and" and all(isinstance(child, Leaf) for child in node.children):
        return _all_leaves(tuple(numbers.number(child) for child in node.children))  # type: ignore[arg-type]
    parts = [compile_condition(child, numbers) for child in node.children]
    checks = tuple(p.holds for p in parts)
    builds = tuple(p.trace for p in parts)
    op = node.op
    if op in ("and", "or"):
        settles = op == "or"  # a child answering this answers for the group

        def holds_group(leaves: EventLeaves) -> bool:
            for check in checks:
                if check(leaves):
                    if settles:
                        return True
                elif not settles:
                    return False
            return not settles

        def trace_group(leaves: EventLeaves) -> Trace:
            children = tuple([build(leaves) for build in builds])
            held = [c.result for c in children]
            return group_trace(any(held) if settles else all(held), op, children)

        return CompiledCondition(holds_group, trace_group)
    check, build = checks[0], builds[0]

    def holds_not(leaves: EventLeaves) -> bool:
        return not check(leaves)

    def trace_not(leaves: EventLeaves) -> Trace:
        child = build(leaves)
        return group_trace(not child.result, op, (child,))

    return CompiledCondition(holds_not, trace_not)


def _all_leaves(numbers: tuple[int, ...]) -> CompiledCondition:
    """A conjunction of leaves (the commonest shape), without a closure per leaf."""

    def holds(leaves: EventLeaves) -> bool:
        result = leaves.result
        for number in numbers:  # noqa: SIM110 (a loop: no generator made per call)
            if not result(number):
                return False
        return True

    def trace(leaves: EventLeaves) -> Trace:
        leaf_trace = leaves.trace
        children = tuple([leaf_trace(number) for number in numbers])
        return group_trace(all(c.result for c in children), "and", children)

    return CompiledCondition(holds, trace)


def _leaf(number: int) -> CompiledCondition:
    def holds(leaves: EventLeaves) -> bool:
        return leaves.result(number)

    def trace(leaves: EventLeaves) -> Trace:
        return leaves.trace(number)

    return CompiledCondition(holds, trace)


def evaluate_compiled(
    rule: Rule, condition: CompiledCondition | None, leaves: EventLeaves
) -> Evaluation:
    """What ``evaluate_rule(rule, ..., trace_misses=False)`` gives: the rule's
    condition on the event, traced only when it held."""
    if condition is None:
        return made_evaluation(rule, True, None, "no condition")
    if not condition.holds(leaves):
        return made_evaluation(rule, False, None)
    trace = condition.trace(leaves)
    return made_evaluation(rule, trace.result, trace)
