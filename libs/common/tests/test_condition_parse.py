from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosstalk.common.v1 import condition_pb2 as pb
from crosstalk_common.conditions.model import (
    FieldSpec,
    FieldType,
    Group,
    Leaf,
    Op,
    field_specs,
    format_duration,
)
from crosstalk_common.conditions.parse import parse_condition
from crosstalk_common.errors import InvalidArgument

FIELDS = field_specs(
    FieldSpec("name", FieldType.TEXT),
    FieldSpec("notes", FieldType.KEYWORDS_TEXT),
    FieldSpec("score", FieldType.NUMBER),
    FieldSpec("created_at", FieldType.TIMESTAMP),
    FieldSpec("vip", FieldType.BOOLEAN),
    FieldSpec("tier", FieldType.ENUM, enum_values=frozenset({"gold", "silver", "bronze"})),
    FieldSpec("tags", FieldType.TAGS),
)


def leaf(field: str, op: pb.Operator.ValueType, *values: str, fuzzy: bool = False) -> pb.Condition:
    return pb.Condition(
        leaf=pb.ConditionLeaf(field=field, operator=op, values=list(values), fuzzy=fuzzy)
    )


def group(op: pb.LogicalOperator.ValueType, *conditions: pb.Condition) -> pb.Condition:
    return pb.Condition(group=pb.ConditionGroup(operator=op, conditions=list(conditions)))


def violations(cond: pb.Condition, **kwargs: object) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        parse_condition(cond, FIELDS, **kwargs)  # type: ignore[arg-type]
    return {v.field: v.description for v in caught.value.violations}


def test_an_empty_condition_means_no_filter() -> None:
    assert parse_condition(pb.Condition(), FIELDS) is None


def test_a_valid_tree_becomes_typed_nodes() -> None:
    cond = group(
        pb.LOGICAL_OPERATOR_AND,
        leaf("score", pb.OPERATOR_BETWEEN, "10", "25.5"),
        leaf("created_at", pb.OPERATOR_AFTER, "2024-05-01T10:00:00+02:00"),
        leaf("created_at", pb.OPERATOR_WITHIN_LAST, "P1DT12H"),
        leaf("vip", pb.OPERATOR_EQUALS, "TRUE"),
        group(pb.LOGICAL_OPERATOR_NOT, leaf("tags", pb.OPERATOR_HAS_ANY_TAG, "vip", "de")),
        leaf("notes", pb.OPERATOR_MATCHES_KEYWORDS, "refund", fuzzy=True),
        leaf("name", pb.OPERATOR_IS_EMPTY),
    )
    assert parse_condition(cond, FIELDS) == Group(
        "and",
        (
            Leaf("score", Op.BETWEEN, (10, 25.5)),
            Leaf("created_at", Op.AFTER, (datetime(2024, 5, 1, 8, tzinfo=UTC),)),
            Leaf("created_at", Op.WITHIN_LAST, (timedelta(days=1, hours=12),)),
            Leaf("vip", Op.EQUALS, (True,)),
            Group("not", (Leaf("tags", Op.HAS_ANY_TAG, ("vip", "de")),)),
            Leaf("notes", Op.MATCHES_KEYWORDS, ("refund",), fuzzy=True),
            Leaf("name", Op.IS_EMPTY, ()),
        ),
    )


def test_a_single_leaf_is_a_valid_condition() -> None:
    parsed = parse_condition(leaf("tier", pb.OPERATOR_IN, "gold", "silver"), FIELDS)
    assert parsed == Leaf("tier", Op.IN, ("gold", "silver"))


def test_unknown_field_names_the_exact_path_and_lists_allowed_fields() -> None:
    cond = group(
        pb.LOGICAL_OPERATOR_OR,
        leaf("name", pb.OPERATOR_EQUALS, "x"),
        leaf("score", pb.OPERATOR_GT, "1"),
        leaf("password", pb.OPERATOR_EQUALS, "x"),
    )
    found = violations(cond)
    description = found["condition.group.conditions[2].leaf.field"]
    assert "'password'" in description
    assert "created_at, name, notes, score, tags, tier, vip" in description
    assert list(found) == ["condition.group.conditions[2].leaf.field"]


def test_operator_not_allowed_for_the_field_type() -> None:
    found = violations(leaf("tags", pb.OPERATOR_CONTAINS, "vip"))
    description = found["condition.leaf.operator"]
    assert "OPERATOR_CONTAINS" in description
    assert "OPERATOR_HAS_ANY_TAG" in description


def test_unspecified_and_unknown_operators() -> None:
    cond = group(
        pb.LOGICAL_OPERATOR_AND,
        leaf("name", pb.OPERATOR_UNSPECIFIED),
        leaf("name", pb.Operator.ValueType(99), "x"),
    )
    found = violations(cond)
    assert "must be set" in found["condition.group.conditions[0].leaf.operator"]
    assert "unknown operator 99" in found["condition.group.conditions[1].leaf.operator"]


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (leaf("score", pb.OPERATOR_GT), "takes exactly 1 value, got 0"),
        (leaf("score", pb.OPERATOR_GT, "1", "2"), "takes exactly 1 value, got 2"),
        (leaf("score", pb.OPERATOR_BETWEEN, "1"), "takes 2 values"),
        (leaf("name", pb.OPERATOR_IS_EMPTY, "x"), "takes no values, got 1"),
        (leaf("tier", pb.OPERATOR_IN), "takes 1 to 100 values, got 0"),
        (leaf("score", pb.OPERATOR_GT, "ten"), "values[0]: 'ten' is not a number"),
        (leaf("score", pb.OPERATOR_GT, "nan"), "is not a number"),
        (leaf("score", pb.OPERATOR_BETWEEN, "5", "1"), "low value"),
        (leaf("created_at", pb.OPERATOR_BEFORE, "yesterday"), "not an RFC 3339 timestamp"),
        (leaf("created_at", pb.OPERATOR_BEFORE, "2024-05-01T00:00:00"), "no time zone"),
        (leaf("created_at", pb.OPERATOR_WITHIN_LAST, "7 days"), "ISO-8601 duration"),
        (leaf("created_at", pb.OPERATOR_WITHIN_LAST, "P1M"), "months and years"),
        (leaf("created_at", pb.OPERATOR_WITHIN_LAST, "PT0S"), "longer than zero"),
        (leaf("tier", pb.OPERATOR_IN, "gold", "platinum"), "values[1]: 'platinum' is not one of"),
        (leaf("vip", pb.OPERATOR_EQUALS, "yes"), "write true or false"),
        (leaf("name", pb.OPERATOR_CONTAINS, " "), "must not be empty"),
        (leaf("tags", pb.OPERATOR_HAS_ALL_TAGS, "vip", ""), "values[1]: must not be empty"),
    ],
)
def test_bad_values_are_reported_on_the_values_path(cond: pb.Condition, expected: str) -> None:
    found = violations(cond)
    assert list(found) == ["condition.leaf.values"]
    assert expected in found["condition.leaf.values"]


def test_fuzzy_applies_only_to_keywords_and_can_be_refused() -> None:
    found = violations(leaf("name", pb.OPERATOR_CONTAINS, "x", fuzzy=True))
    assert "OPERATOR_MATCHES_KEYWORDS" in found["condition.leaf.fuzzy"]
    found = violations(
        leaf("notes", pb.OPERATOR_MATCHES_KEYWORDS, "refund", fuzzy=True), allow_fuzzy=False
    )
    assert "only available in rules" in found["condition.leaf.fuzzy"]


def test_group_shape_errors() -> None:
    cond = group(
        pb.LOGICAL_OPERATOR_AND,
        group(pb.LOGICAL_OPERATOR_UNSPECIFIED, leaf("name", pb.OPERATOR_IS_EMPTY)),
        group(pb.LOGICAL_OPERATOR_OR),
        group(
            pb.LOGICAL_OPERATOR_NOT,
            leaf("name", pb.OPERATOR_IS_EMPTY),
            leaf("score", pb.OPERATOR_IS_EMPTY),
        ),
        pb.Condition(),
    )
    found = violations(cond)
    assert set(found) == {
        "condition.group.conditions[0].group.operator",
        "condition.group.conditions[1].group.conditions",
        "condition.group.conditions[2].group.conditions",
        "condition.group.conditions[3]",
    }
    assert "exactly 1 condition, got 2" in found["condition.group.conditions[2].group.conditions"]
    assert "at least one" in found["condition.group.conditions[1].group.conditions"]


def test_every_violation_is_reported_at_once() -> None:
    cond = group(
        pb.LOGICAL_OPERATOR_AND,
        leaf("nope", pb.OPERATOR_EQUALS, "x"),
        leaf("score", pb.OPERATOR_GT, "x"),
        leaf("tags", pb.OPERATOR_GT, "1"),
    )
    with pytest.raises(InvalidArgument) as caught:
        parse_condition(cond, FIELDS)
    assert [v.field for v in caught.value.violations] == [
        "condition.group.conditions[0].leaf.field",
        "condition.group.conditions[1].leaf.values",
        "condition.group.conditions[2].leaf.operator",
    ]


def test_at_most_max_conditions_leaves() -> None:
    eleven = [leaf("score", pb.OPERATOR_GT, str(i)) for i in range(11)]
    nested = group(pb.LOGICAL_OPERATOR_AND, *eleven[:5], group(pb.LOGICAL_OPERATOR_OR, *eleven[5:]))
    found = violations(nested)
    assert found == {"condition": "at most 10 conditions, got 11"}
    assert parse_condition(group(pb.LOGICAL_OPERATOR_AND, *eleven[:10]), FIELDS) is not None
    found = violations(group(pb.LOGICAL_OPERATOR_AND, *eleven[:3]), max_conditions=2)
    assert found == {"condition": "at most 2 conditions, got 3"}


def test_nesting_deeper_than_five_groups_is_refused() -> None:
    def nest(levels: int) -> pb.Condition:
        cond = leaf("name", pb.OPERATOR_IS_EMPTY)
        for _ in range(levels):
            cond = group(pb.LOGICAL_OPERATOR_AND, cond)
        return cond

    assert parse_condition(nest(5), FIELDS) is not None
    found = violations(nest(6))
    deepest = "condition" + ".group.conditions[0]" * 5 + ".group"
    assert found == {deepest: "groups nest at most 5 levels deep"}


def test_a_custom_field_path_prefixes_every_violation() -> None:
    found = violations(leaf("nope", pb.OPERATOR_IS_EMPTY), field_path="rule.condition")
    assert list(found) == ["rule.condition.leaf.field"]


def test_field_specs_can_narrow_operators_and_enums_need_values() -> None:
    narrow = field_specs(FieldSpec("score", FieldType.NUMBER, operators=frozenset({Op.GT})))
    assert parse_condition(leaf("score", pb.OPERATOR_GT, "1"), narrow) is not None
    with pytest.raises(InvalidArgument):
        parse_condition(leaf("score", pb.OPERATOR_LT, "1"), narrow)
    with pytest.raises(ValueError, match="enum_values"):
        FieldSpec("tier", FieldType.ENUM)
    from_tuple = FieldSpec("tier", FieldType.ENUM, enum_values=("gold", "silver"))
    assert from_tuple.enum_values == frozenset({"gold", "silver"})


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=7), "P7D"),
        (timedelta(hours=24), "P1D"),
        (timedelta(hours=36), "P1DT12H"),
        (timedelta(minutes=90), "PT1H30M"),
        (timedelta(seconds=1.5), "PT1.5S"),
        (timedelta(0), "PT0S"),
    ],
)
def test_format_duration(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_enum_aliases_read_as_the_value_they_stand_for() -> None:
    stage = FieldSpec(
        "stage",
        FieldType.ENUM,
        enum_values=("deal", "intent"),
        enum_aliases={"STAGE_DEAL": "deal", "STAGE_INTENT": "intent"},
    )
    node = parse_condition(leaf("stage", pb.OPERATOR_IN, "STAGE_DEAL", "intent"), {"stage": stage})
    assert node == Leaf("stage", Op.IN, ("deal", "intent"))
    with pytest.raises(InvalidArgument) as unknown:
        parse_condition(leaf("stage", pb.OPERATOR_EQUALS, "STAGE_WON"), {"stage": stage})
    description = unknown.value.violations[0].description
    assert "STAGE_DEAL, STAGE_INTENT (or deal, intent)" in description
    with pytest.raises(ValueError, match="unknown values"):
        FieldSpec("stage", FieldType.ENUM, enum_values=("deal",), enum_aliases={"STAGE_X": "x"})
    assert hash(stage) == hash(stage)  # specs stay hashable
