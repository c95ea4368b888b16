from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosstalk_common.conditions.evaluate import evaluate, explain, find_keyword, levenshtein
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
