"""Messaging's domain model: intents merged one per name, the text an inbound message may carry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument
from messaging.domain.model import MAX_TEXT_LENGTH, Inbound, Intent, Sender, one_per_intent

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_each_intent_once_with_every_keyword_and_the_best_confidence() -> None:
    merged = one_per_intent(
        [
            Intent("refund", ("money back",), 0.4, "intentKeywordSets/a"),
            Intent("delivery", ("parcel",), 0.7),
            Intent("refund", ("refund", "money back"), 0.9, "intentKeywordSets/b"),
        ]
    )

    assert merged == (
        Intent("refund", ("money back", "refund"), 0.9, "intentKeywordSets/b"),
        Intent("delivery", ("parcel",), 0.7),
    )


def test_a_merged_intent_keeps_a_keyword_set_when_the_best_match_has_none() -> None:
    merged = one_per_intent(
        [Intent("refund", ("a",), 0.4, "intentKeywordSets/a"), Intent("refund", ("b",), 0.9)]
    )

    assert merged == (Intent("refund", ("a", "b"), 0.9, "intentKeywordSets/a"),)


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("", True),
        (" \n\t", True),
        ("x" * MAX_TEXT_LENGTH, False),
        ("x" * (MAX_TEXT_LENGTH + 1), True),
    ],
)
def test_the_text_must_say_something_and_not_too_much(text: str, refused: bool) -> None:
    inbound = Inbound(Sender(Channel.EMAIL, "ana@b.co"), text)

    if refused:
        with pytest.raises(InvalidArgument) as caught:
            inbound.validate(NOW)
        assert [v.field for v in caught.value.violations] == ["text"]
    else:
        inbound.validate(NOW)


def test_every_problem_is_named_at_once() -> None:
    inbound = Inbound(Sender(Channel.EMAIL, " "), "", external_id="e" * 201)

    with pytest.raises(InvalidArgument) as caught:
        inbound.validate(NOW)

    assert [v.field for v in caught.value.violations] == [
        "sender.external_id",
        "text",
        "external_id",
    ]
