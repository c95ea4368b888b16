from __future__ import annotations

import re

import pytest

from crosstalk_common.api.resource_names import (
    names_one,
    optional_resource_id,
    resource_id,
    resource_ids,
    resource_ids_of,
)
from crosstalk_common.errors import FieldViolation, InvalidArgument


def test_a_name_gives_its_id() -> None:
    assert resource_id("customers/abc-1", "customers") == "abc-1"


@pytest.mark.parametrize(
    "name", ["", "customers/", "customers", "tags/abc", "customers/a/b", "/customers/a", "abc"]
)
def test_a_bad_name_names_the_field_it_came_in(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resource_id(name, "customers", field="merged_customers[2]")
    assert caught.value.violations == (
        FieldViolation("merged_customers[2]", "must look like 'customers/{id}'"),
    )


def test_an_id_pattern_must_match_the_whole_id() -> None:
    short = re.compile(r"[a-z]{1,3}")
    assert resource_id("glossaryTerms/abc", "glossaryTerms", id_pattern=short) == "abc"
    with pytest.raises(InvalidArgument, match="invalid name"):
        resource_id("glossaryTerms/abcd", "glossaryTerms", id_pattern=short)


def test_an_optional_name_left_out_gives_no_id() -> None:
    assert optional_resource_id("", "members", field="owner") == ""
    assert optional_resource_id("members/m1", "members", field="owner") == "m1"
    with pytest.raises(InvalidArgument, match="invalid owner"):
        optional_resource_id("departments/d1", "members", field="owner")


def test_a_repeated_field_reports_every_bad_name_by_index() -> None:
    assert resource_ids(["tags/a", "tags/b"], "tags", field="tags") == ("a", "b")
    with pytest.raises(InvalidArgument) as caught:
        resource_ids(["tags/a", "tag/b", "tags/", "tags/d"], "tags", field="add_tags.tags")
    assert [v.field for v in caught.value.violations] == ["add_tags.tags[1]", "add_tags.tags[2]"]


def test_a_repeated_field_stops_reading_at_the_most_violations() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resource_ids(["x", "y", "z"], "customers", field="customers", most_violations=2)
    assert [v.field for v in caught.value.violations] == ["customers[0]", "customers[1]"]


def test_a_nested_name_gives_its_ids_in_order() -> None:
    pattern = "members/{member}/sessions/{session}"
    assert resource_ids_of("members/m1/sessions/s2", pattern) == ("m1", "s2")
    assert resource_ids_of("jobs/j1/exportFile", "jobs/{job}/exportFile") == ("j1",)


@pytest.mark.parametrize(
    "name",
    ["members/m1/sessions/", "members//sessions/s2", "members/m1/keys/s2", "members/m1/sessions"],
)
def test_a_bad_nested_name_shows_the_pattern(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resource_ids_of(name, "members/{member}/sessions/{session}")
    assert caught.value.violations == (
        FieldViolation("name", "must look like 'members/{member}/sessions/{session}'"),
    )


def test_names_one_answers_what_resource_id_would_read() -> None:
    blank_free = re.compile(r"\S+")
    assert names_one("members/m1", "members")
    for bad in ("members/", "members/a/b", "groups/g1", "m1", ""):
        assert not names_one(bad, "members"), bad
    assert names_one("members/a b", "members")
    assert not names_one("members/a b", "members", id_pattern=blank_free)
