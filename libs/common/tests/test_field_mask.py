from __future__ import annotations

import pytest

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.api.field_mask import populated_fields, resolve_update_paths
from crosstalk_common.errors import InvalidArgument

UPDATABLE = ("display_name", "language", "country", "emails")


def test_an_empty_mask_means_the_populated_updatable_fields() -> None:
    paths = resolve_update_paths(
        [], populated=["name", "display_name", "etag", "country"], updatable=UPDATABLE
    )
    assert paths == ["display_name", "country"]


def test_a_wildcard_means_every_updatable_field() -> None:
    assert resolve_update_paths(["*"], populated=[], updatable=UPDATABLE) == list(UPDATABLE)
    assert resolve_update_paths(["*"], populated=[], updatable={"b", "a"}) == ["a", "b"]
    with pytest.raises(InvalidArgument, match="only path"):
        resolve_update_paths(["*", "country"], populated=[], updatable=UPDATABLE)


def test_listed_paths_are_kept_in_order_without_duplicates() -> None:
    paths = resolve_update_paths(
        ["language", "display_name", "language"], populated=[], updatable=UPDATABLE
    )
    assert paths == ["language", "display_name"]


def test_unknown_and_read_only_paths_are_named() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_update_paths(
            ["display_name", "name", "create_time", "etag", ""],
            populated=[],
            updatable=UPDATABLE,
        )
    violations = caught.value.violations
    assert {v.field for v in violations} == {"update_mask"}
    descriptions = [v.description for v in violations]
    assert descriptions[0].startswith("'name' cannot be updated")
    assert "display_name, language, country, emails" in descriptions[0]
    assert descriptions[1].startswith("'create_time'")
    assert descriptions[2].startswith("'etag'")
    assert "empty path" in descriptions[3]


def test_the_violation_field_can_be_renamed() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_update_paths(["nope"], populated=[], updatable=UPDATABLE, field="mask")
    assert caught.value.violations[0].field == "mask"


def test_populated_fields_lists_set_top_level_fields() -> None:
    leaf = condition_pb2.ConditionLeaf(field="tier", values=["gold"])
    assert populated_fields(leaf) == ["field", "values"]
    assert populated_fields(condition_pb2.ConditionLeaf()) == []
    assert populated_fields(condition_pb2.Condition(leaf=leaf)) == ["leaf"]
