"""From ``crosstalk.common.v1.Condition`` to a checked, typed condition tree.

Every problem is reported, each on the exact path of the offending field
(``condition.group.conditions[2].leaf.operator``), in one INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.conditions.model import FieldSpec, FieldType, Group, Leaf, Node, Op
from crosstalk_common.conditions.values import (
    read_boolean,
    read_duration,
    read_number,
    read_timestamp,
)
from crosstalk_common.errors import FieldViolation, InvalidArgument

DEFAULT_MAX_CONDITIONS = 10
MAX_DEPTH = 5
MAX_VALUES = 100

_NO_VALUES = frozenset({Op.IS_EMPTY, Op.IS_NOT_EMPTY})
_TWO_VALUES = frozenset({Op.BETWEEN})
_MANY_VALUES = frozenset(
    {Op.IN, Op.NOT_IN, Op.HAS_ANY_TAG, Op.HAS_ALL_TAGS, Op.HAS_NO_TAG, Op.MATCHES_KEYWORDS}
)
_NON_EMPTY_TEXT = frozenset({Op.CONTAINS, Op.NOT_CONTAINS, Op.MATCHES_KEYWORDS})

_LOGICAL: dict[int, Literal["and", "or", "not"]] = {
    condition_pb2.LOGICAL_OPERATOR_AND: "and",
    condition_pb2.LOGICAL_OPERATOR_OR: "or",
    condition_pb2.LOGICAL_OPERATOR_NOT: "not",
}


def operator_name(op: Op) -> str:
    """The proto name clients use: ``Op.HAS_ANY_TAG`` -> ``"OPERATOR_HAS_ANY_TAG"``."""
    return f"OPERATOR_{op.name}"


# Built from the proto, so an Op missing from condition.proto fails at import.
_OP_OF_NUMBER: dict[int, Op] = {condition_pb2.Operator.Value(operator_name(op)): op for op in Op}


def op_from_proto(value: int) -> Op | None:
    """The ``Op`` of a proto ``Operator`` number; ``None`` if unspecified or unknown."""
    return _OP_OF_NUMBER.get(value)


def parse_condition(
    cond: condition_pb2.Condition,
    fields: Mapping[str, FieldSpec],
    *,
    max_conditions: int = DEFAULT_MAX_CONDITIONS,
    field_path: str = "condition",
    allow_fuzzy: bool = True,
) -> Node | None:
    """The checked tree of ``cond``, or ``None`` when ``cond`` is empty (no filter).

    ``fields`` is the resource's allow-list. ``allow_fuzzy=False`` rejects
    fuzzy keyword matching up front, for conditions that will run as SQL.
    Raises ``InvalidArgument`` listing every violation found.
    """
    if cond.WhichOneof("node") is None:
        return None
    parser = _Parser(fields, allow_fuzzy=allow_fuzzy)
    node = parser.node(cond, field_path, depth=0)
    if parser.leaf_count > max_conditions:
        parser.violations.insert(
            0,
            FieldViolation(
                field_path, f"at most {max_conditions} conditions, got {parser.leaf_count}"
            ),
        )
    if parser.violations:
        raise InvalidArgument(parser.violations)
    assert node is not None  # no violations means every node was built
    return node


class _Parser:
    def __init__(self, fields: Mapping[str, FieldSpec], *, allow_fuzzy: bool) -> None:
        self.fields = fields
        self.allow_fuzzy = allow_fuzzy
        self.violations: list[FieldViolation] = []
        self.leaf_count = 0

    def fail(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def node(self, cond: condition_pb2.Condition, path: str, depth: int) -> Node | None:
        kind = cond.WhichOneof("node")
        if kind == "leaf":
            self.leaf_count += 1
            return self.leaf(cond.leaf, f"{path}.leaf")
        if kind == "group":
            return self.group(cond.group, f"{path}.group", depth + 1)
        self.fail(path, "must be a group or a leaf; this condition is empty")
        return None

    def group(self, group: condition_pb2.ConditionGroup, path: str, depth: int) -> Group | None:
        if depth > MAX_DEPTH:
            self.leaf_count += _count_leaves(group)
            self.fail(path, f"groups nest at most {MAX_DEPTH} levels deep")
            return None
        op = _LOGICAL.get(group.operator)
        if op is None:
            self.fail(
                f"{path}.operator",
                "must be LOGICAL_OPERATOR_AND, LOGICAL_OPERATOR_OR or LOGICAL_OPERATOR_NOT",
            )
        count = len(group.conditions)
        if count == 0:
            self.fail(f"{path}.conditions", "a group needs at least one condition")
        elif op == "not" and count != 1:
            self.fail(f"{path}.conditions", f"a NOT group takes exactly 1 condition, got {count}")
        children = [
            self.node(child, f"{path}.conditions[{i}]", depth)
            for i, child in enumerate(group.conditions)
        ]
        if op is None or count == 0 or any(child is None for child in children):
            return None
        return Group(op, tuple(child for child in children if child is not None))

    def leaf(self, leaf: condition_pb2.ConditionLeaf, path: str) -> Leaf | None:
        spec = self.fields.get(leaf.field)
        if spec is None:
            allowed = ", ".join(sorted(self.fields)) or "none"
            what = f"unknown field {leaf.field!r}" if leaf.field else "must name a field"
            self.fail(f"{path}.field", f"{what}; allowed fields: {allowed}")
            return None
        op = op_from_proto(leaf.operator)
        allowed_ops = ", ".join(operator_name(o) for o in _sorted_ops(spec.allowed_operators))
        if op is None:
            what = "must be set" if leaf.operator == 0 else f"unknown operator {leaf.operator}"
            self.fail(f"{path}.operator", f"{what}; allowed for {leaf.field!r}: {allowed_ops}")
            return None
        if op not in spec.allowed_operators:
            self.fail(
                f"{path}.operator",
                f"{operator_name(op)} does not apply to the {spec.type.value} field "
                f"{leaf.field!r}; allowed: {allowed_ops}",
            )
            return None
        fuzzy_ok = self.check_fuzzy(leaf, op, f"{path}.fuzzy")
        values = self.values(list(leaf.values), spec, op, f"{path}.values")
        if values is None or not fuzzy_ok:
            return None
        return Leaf(leaf.field, op, values, fuzzy=leaf.fuzzy)

    def check_fuzzy(self, leaf: condition_pb2.ConditionLeaf, op: Op, path: str) -> bool:
        if not leaf.fuzzy:
            return True
        if op is not Op.MATCHES_KEYWORDS:
            self.fail(path, f"only applies to {operator_name(Op.MATCHES_KEYWORDS)}")
            return False
        if not self.allow_fuzzy:
            self.fail(path, "fuzzy keyword matching is only available in rules' conditions")
            return False
        return True

    def values(
        self, texts: list[str], spec: FieldSpec, op: Op, path: str
    ) -> tuple[Any, ...] | None:
        expected = _expected_count(op)
        if not _count_fits(len(texts), op):
            self.fail(path, f"{operator_name(op)} takes {expected}, got {len(texts)}")
            return None
        read = _reader(spec, op)
        parsed: list[Any] = []
        problems: list[str] = []
        for i, text in enumerate(texts):
            try:
                parsed.append(read(text))
            except ValueError as exc:
                problems.append(f"values[{i}]: {exc}")
        if not problems and op is Op.BETWEEN and parsed[0] > parsed[1]:
            problems.append("the low value (values[0]) is above the high value (values[1])")
        if problems:
            self.fail(path, "; ".join(problems))
            return None
        return tuple(parsed)


def _expected_count(op: Op) -> str:
    if op in _NO_VALUES:
        return "no values"
    if op in _TWO_VALUES:
        return "2 values (low and high)"
    if op in _MANY_VALUES:
        return f"1 to {MAX_VALUES} values"
    return "exactly 1 value"


def _count_fits(count: int, op: Op) -> bool:
    if op in _NO_VALUES:
        return count == 0
    if op in _TWO_VALUES:
        return count == 2
    if op in _MANY_VALUES:
        return 1 <= count <= MAX_VALUES
    return count == 1


def _reader(spec: FieldSpec, op: Op) -> Callable[[str], Any]:
    if op is Op.WITHIN_LAST:
        return read_duration
    if spec.type is FieldType.NUMBER:
        return read_number
    if spec.type is FieldType.TIMESTAMP:
        return read_timestamp
    if spec.type is FieldType.BOOLEAN:
        return read_boolean
    if spec.type is FieldType.ENUM:
        return _enum_reader(frozenset(spec.enum_values or ()), spec.enum_aliases or {})
    if spec.type is FieldType.TAGS or op in _NON_EMPTY_TEXT:
        return _non_empty_text
    return str


def _enum_reader(allowed: frozenset[str], aliases: Mapping[str, str]) -> Callable[[str], str]:
    """A value as is, or the value an alias stands for."""
    if aliases:
        expected = f"{', '.join(sorted(aliases))} (or {', '.join(sorted(allowed))})"
    else:
        expected = ", ".join(sorted(allowed))

    def read(text: str) -> str:
        if text in allowed:
            return text
        if text in aliases:
            return aliases[text]
        raise ValueError(f"{text!r} is not one of {expected}")

    return read


def _non_empty_text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _sorted_ops(ops: frozenset[Op]) -> list[Op]:
    order = list(Op)
    return sorted(ops, key=order.index)


def _count_leaves(group: condition_pb2.ConditionGroup) -> int:
    total = 0
    for child in group.conditions:
        kind = child.WhichOneof("node")
        if kind == "leaf":
            total += 1
        elif kind == "group":
            total += _count_leaves(child.group)
    return total
