from __future__ import annotations

import pytest

from crosstalk_common.api.ordering import Direction, SortKey, parse_order_by
from crosstalk_common.errors import InvalidArgument

SORTABLE = {"create_time": Direction.BOTH, "display_name": Direction.ASCENDING}
NEWEST = (SortKey("create_time", descending=True),)


def refused(text: str, sortable: dict[str, Direction] = SORTABLE) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse_order_by(text, sortable=sortable, default=NEWEST)
    [violation] = caught.value.violations
    assert violation.field == "order_by"
    return violation.description


def test_empty_means_the_default() -> None:
    assert parse_order_by("", sortable=SORTABLE, default=NEWEST) == NEWEST
    assert parse_order_by("  ", sortable=SORTABLE, default=NEWEST) == NEWEST


def test_fields_and_directions_are_parsed() -> None:
    assert parse_order_by("create_time desc, display_name", sortable=SORTABLE, default=NEWEST) == (
        SortKey("create_time", True),
        SortKey("display_name"),
    )
    assert parse_order_by("create_time ASC", sortable=SORTABLE, default=NEWEST) == (
        SortKey("create_time"),
    )


def test_an_unknown_field_is_refused_naming_the_allowed_ones() -> None:
    message = refused("bogus_field desc")
    assert "bogus_field" in message
    assert "create_time [asc|desc]" in message
    assert "display_name" in message


def test_unsupported_directions_duplicates_and_bad_syntax_are_refused() -> None:
    assert "descending" in refused("display_name desc")
    assert "twice" in refused("create_time, create_time desc")
    assert "direction" in refused("create_time sideways")
    for bad in ("create_time desc extra", ",", "create_time,", "Create-Time", "x" * 201):
        refused(bad)


def test_a_list_that_sorts_one_way_says_so() -> None:
    only = {"create_time": Direction.DESCENDING}
    assert "supported: create_time desc" in refused("create_time", only)
    assert parse_order_by("create_time desc", sortable=only, default=NEWEST) == NEWEST
