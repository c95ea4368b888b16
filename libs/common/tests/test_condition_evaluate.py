from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crosstalk_common.conditions.evaluate import (
    evaluate,
    explain,
    find_keyword,
    levenshtein,
    within_one_edit,
)
from crosstalk_common.conditions.model import Group, Leaf, Op

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("refund", "refund", 0), ("refund", "refnd", 1), ("refund", "rfeund", 2),
     ("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3)],
)  # fmt: skip
def test_levenshtein(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def test_levenshtein_stops_early_past_the_limit() -> None:
    assert levenshtein("kitten", "sitting", limit=1) == 2
    assert levenshtein("a", "abcdef", limit=1) == 2


@pytest.mark.parametrize(
    ("text", "keywords", "fuzzy", "found"),
    [
        ("Where is my REFUND?", ["refund"], False, "refund"),
        ("I want my money back", ["refund", "money back"], False, "money back"),
        ("refnd please", ["refund"], False, None),
        ("refnd please", ["refund"], True, "refund"),
        ("need a refunds", ["refund"], True, "refund"),
        ("rfeund please", ["refund"], True, None),  # two edits
        ("the ordr is late", ["order"], True, "order"),
        ("the ord is late", ["ord"], True, "ord"),
        ("the orb is late", ["ord"], True, None),  # short keywords stay exact
        ("I want my mony back", ["money back"], True, "money back"),
        ("", ["refund"], True, None),
    ],
)
def test_find_keyword(text: str, keywords: list[str], fuzzy: bool, found: str | None) -> None:
    assert find_keyword(text, keywords, fuzzy=fuzzy) == found


def test_missing_facts_are_empty() -> None:
    facts: dict[str, object] = {}
    assert evaluate(Leaf("name", Op.IS_EMPTY), facts)
    assert evaluate(Leaf("tags", Op.IS_EMPTY), facts)
    assert evaluate(Leaf("tags", Op.HAS_NO_TAG, ("vip",)), facts)
    assert evaluate(Leaf("name", Op.NOT_EQUALS, ("x",)), facts)
    assert evaluate(Leaf("name", Op.NOT_CONTAINS, ("x",)), facts)
    for op, values in [
        (Op.EQUALS, ("x",)),
        (Op.CONTAINS, ("x",)),
        (Op.IN, ("x",)),
        (Op.GT, (1,)),
        (Op.BETWEEN, (1, 2)),
        (Op.WITHIN_LAST, (timedelta(days=1),)),
        (Op.HAS_ANY_TAG, ("vip",)),
        (Op.MATCHES_KEYWORDS, ("x",)),
        (Op.IS_NOT_EMPTY, ()),
    ]:
        assert not evaluate(Leaf("f", op, values), facts), op


def test_facts_of_other_shapes() -> None:
    # Timestamps as RFC 3339 text or naive UTC, tags as a list, a number fact of the wrong type.
    after = Leaf("at", Op.AFTER, (datetime(2024, 5, 1, tzinfo=UTC),))
    assert evaluate(after, {"at": "2024-05-02T00:00:00Z"})
    assert evaluate(after, {"at": datetime(2024, 5, 2)})
    assert not evaluate(after, {"at": "not a time"})
    assert evaluate(Leaf("tags", Op.HAS_ALL_TAGS, ("a", "b")), {"tags": ["b", "a", "c"]})
    assert not evaluate(Leaf("n", Op.GT, (1,)), {"n": "two"})
    within = Leaf("at", Op.WITHIN_LAST, (timedelta(hours=1),))
    assert evaluate(within, {"at": NOW - timedelta(minutes=59)}, now=NOW)
    assert not evaluate(within, {"at": NOW - timedelta(minutes=61)}, now=NOW)


def test_groups() -> None:
    vip = Leaf("tags", Op.HAS_ANY_TAG, ("vip",))
    german = Leaf("language", Op.EQUALS, ("de",))
    facts = {"tags": {"vip"}, "language": "en"}
    assert not evaluate(Group("and", (vip, german)), facts)
    assert evaluate(Group("or", (vip, german)), facts)
    assert evaluate(Group("not", (german,)), facts)


def test_explain_gives_one_line_per_leaf() -> None:
    tree = Group(
        "and",
        (
            Leaf("language", Op.EQUALS, ("de",)),
            Leaf("message", Op.MATCHES_KEYWORDS, ("refund", "return"), fuzzy=True),
            Group("not", (Leaf("tags", Op.HAS_ANY_TAG, ("blocked",)),)),
            Leaf("sentiment", Op.BETWEEN, (-1, -0.3)),
            Leaf("created_at", Op.WITHIN_LAST, (timedelta(days=7),)),
        ),
    )
    facts = {
        "language": "de",
        "message": "Wo ist mein refnd?",
        "tags": {"new", "angry"},
        "sentiment": 0.2,
    }
    assert explain(tree, facts, now=NOW) == [
        "language equals 'de': matched (language is 'de')",
        "message matches any keyword of 'refund', 'return' (fuzzy): matched (found 'refund')",
        "tags has any tag of 'blocked': not matched (tags is ['angry', 'new']) [inside NOT]",
        "sentiment is between -1 and -0.3: not matched (sentiment is 0.2)",
        "created_at is within the last P7D: not matched (created_at is empty)",
    ]


def _distance(a: str, b: str) -> int:
    """The reference: the full table of edit distances (no limit: no shortcut taken),
    checked on its own by test_levenshtein."""
    return levenshtein(a, b)


@given(st.text("abc", max_size=8), st.text("abc", max_size=8))
def test_one_edit_agrees_with_the_full_distance(a: str, b: str) -> None:
    assert within_one_edit(a, b) == (_distance(a, b) <= 1)
    assert levenshtein(a, b, limit=1) == min(_distance(a, b), 2)


@given(
    st.lists(
        st.sampled_from(["refund", "refnd", "order", "ordr", "money", "back", "x"]), max_size=12
    ),
    st.lists(
        st.sampled_from(["refund", "money back", "order late", "back", "zzzzz"]),
        min_size=1,
        max_size=4,
    ),
)
def test_fuzzy_search_finds_what_every_window_compared_finds(
    words: list[str], keywords: list[str]
) -> None:
    """The first keyword (in their order) that some window of as many words is
    within one edit of, as comparing every window with every keyword would say."""
    text = " ".join(words)
    expected = next((k for k in keywords if k in text), None)
    if expected is None:
        for keyword in keywords:
            phrase = keyword
            width = len(phrase.split())
            if len(phrase) >= 5 and any(
                _distance(" ".join(words[i : i + width]), phrase) <= 1
                for i in range(len(words) - width + 1)
            ):
                expected = keyword
                break
    assert find_keyword(text, keywords, fuzzy=True) == expected


# A customer writes the text, so its cost is theirs to choose. Here every window is
# the length of every keyword and the same up to its end: a table of distances per
# window fills all 200 x 201 cells of each of 150,000 comparisons (hours). The
# timeout guards the linear search with a wide margin.
@pytest.mark.timeout(60)
def test_a_hostile_message_is_searched_in_linear_time() -> None:
    near = "abcdefghij" * 20
    text = " ".join([near] * 1500)
    keywords = [near[:-1] + chr(ord("k") + i % 10) + str(i % 10) for i in range(100)]
    assert find_keyword(text, keywords, fuzzy=True) is None
    # "...ij3" is one substitution from "...in3" (the fourth keyword), two from the rest.
    assert find_keyword(text + " " + near + "3", keywords, fuzzy=True) == keywords[3]
