"""Saved segments as rule conditions (core_loop §1).

A condition names a segment with a leaf on ``customer.segment``: EQUALS
``segments/{id}`` (the customer is in it) or NOT_EQUALS (is not). When the rule
is saved, rules copies the segment's condition from customers (over the rule's
``customer.`` facts) and records the segment's version; evaluation reads the
tree with each such leaf replaced by the copied condition, so a later change
of the segment does not change the rule until it is saved again.
"""

from __future__ import annotations

from collections.abc import Mapping

from crosstalk_common.conditions.model import FieldSpec, FieldType, Group, Leaf, Node, Op

SEGMENT_FACT = "customer.segment"
SEGMENT_PREFIX = "segments/"
SEGMENT_SPEC = FieldSpec(SEGMENT_FACT, FieldType.TEXT, operators=(Op.EQUALS, Op.NOT_EQUALS))


def segment_id_of(value: str) -> str:
    """``segments/{id}`` (or a bare id) -> the id."""
    return value.removeprefix(SEGMENT_PREFIX)


def segment_leaves(node: Node | None) -> list[tuple[str, Leaf]]:
    """Every segment leaf of the tree, with the path of its ``values`` relative to
    the condition (``.group.conditions[1].leaf.values``), depth first."""
    found: list[tuple[str, Leaf]] = []

    def walk(current: Node, path: str) -> None:
        if isinstance(current, Leaf):
            if current.field == SEGMENT_FACT:
                found.append((f"{path}.leaf.values", current))
            return
        for i, child in enumerate(current.children):
            walk(child, f"{path}.group.conditions[{i}]")

    if node is not None:
        walk(node, "")
    return found


def inline_segments(node: Node | None, conditions: Mapping[str, Node]) -> Node | None:
    """The tree with each segment leaf replaced by its segment's condition
    (``conditions`` by segment id); NOT_EQUALS becomes NOT of it."""
    if node is None:
        return None
    if isinstance(node, Leaf):
        if node.field != SEGMENT_FACT:
            return node
        inner = conditions[segment_id_of(str(node.values[0]))]
        return inner if node.operator is Op.EQUALS else Group("not", (inner,))
    children = tuple(inline_segments(child, conditions) for child in node.children)
    return Group(node.op, tuple(c for c in children if c is not None))
