"""When messaging translates an inbound text, and how it does without translation."""

from __future__ import annotations

import logging

import pytest

from messaging.app.understanding import (
    WORKING_LANGUAGE_TTL_SECONDS,
    TextUnderstanding,
    primary_language,
)
from messaging.domain.model import Intent, Understanding

from .fakes import FakeTranslation, FakeWorkingLanguages

TENANT = "t-1"
GERMAN = Understanding(
    language="de",
    sentiment_score=-0.6,
    sentiment_label="negative",
    intents=(Intent("refund", ("geld zurück",), 0.9, "intentKeywordSets/refunds"),),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _policy(
    translation: FakeTranslation,
    languages: FakeWorkingLanguages,
    clock: Clock | None = None,
) -> TextUnderstanding:
    return TextUnderstanding(translation, languages, clock=clock or Clock())


async def test_a_text_in_another_language_is_translated_into_the_working_language() -> None:
    translation = FakeTranslation(GERMAN, translations={"Ich will mein Geld zurück": "Refund!"})
    policy = _policy(translation, FakeWorkingLanguages({TENANT: "en"}))

    understood = await policy.understand(TENANT, "Ich will mein Geld zurück")

    assert understood == Understanding(
        language="de",
        translated_text="Refund!",
        translated_language="en",
        sentiment_score=-0.6,
        sentiment_label="negative",
        intents=GERMAN.intents,
    )
    assert translation.translated == [("Ich will mein Geld zurück", "de", "en")]


@pytest.mark.parametrize(("detected", "working"), [("de", "de"), ("de", "de-AT"), ("en-GB", "en")])
async def test_a_text_in_the_working_language_is_not_translated(
    detected: str, working: str
) -> None:
    analysis = Understanding(language=detected, sentiment_score=0.1, sentiment_label="neutral")
    translation = FakeTranslation(analysis)
    policy = _policy(translation, FakeWorkingLanguages({TENANT: working}))

    assert await policy.understand(TENANT, "hallo") == analysis
    assert translation.translated == []


async def test_a_text_of_unknown_language_is_neither_translated_nor_costs_a_lookup() -> None:
    translation = FakeTranslation(Understanding(language="und"))
    languages = FakeWorkingLanguages({TENANT: "en"})

    understood = await _policy(translation, languages).understand(TENANT, "12345")

    assert understood == Understanding(language="und")
    assert translation.translated == []
    assert languages.asked == []


async def test_a_tenant_without_a_working_language_gets_no_translation() -> None:
    translation = FakeTranslation(GERMAN)

    understood = await _policy(translation, FakeWorkingLanguages()).understand(TENANT, "hallo")

    assert understood == GERMAN
    assert translation.translated == []


async def test_translation_down_stores_the_text_without_language(
    caplog: pytest.LogCaptureFixture,
) -> None:
    translation = FakeTranslation(GERMAN)
    translation.analysis_down = True
    languages = FakeWorkingLanguages({TENANT: "en"})

    with caplog.at_level(logging.WARNING):
        understood = await _policy(translation, languages).understand(TENANT, "hallo")

    assert understood == Understanding()
    assert understood.language == "und"
    assert languages.asked == []
    assert "not analysed (translation is down)" in caplog.text


async def test_a_failed_translation_keeps_language_sentiment_and_intents() -> None:
    translation = FakeTranslation(GERMAN)
    translation.translation_down = True

    policy = _policy(translation, FakeWorkingLanguages({TENANT: "en"}))

    assert await policy.understand(TENANT, "hallo") == GERMAN
    assert translation.translated == [("hallo", "de", "en")]


async def test_an_unknown_working_language_means_no_translation_and_is_asked_again() -> None:
    translation = FakeTranslation(GERMAN)
    languages = FakeWorkingLanguages({TENANT: "en"})
    languages.down = True
    policy = _policy(translation, languages)

    assert await policy.understand(TENANT, "hallo") == GERMAN
    assert translation.translated == []

    languages.down = False
    understood = await policy.understand(TENANT, "hallo")

    assert understood.translated_language == "en"
    assert languages.asked == [TENANT, TENANT]


async def test_the_working_language_is_remembered_per_tenant_for_a_while() -> None:
    clock = Clock()
    translation = FakeTranslation(GERMAN)
    languages = FakeWorkingLanguages({TENANT: "en", "t-2": "fr"})
    policy = _policy(translation, languages, clock)

    first = await policy.understand(TENANT, "hallo")
    languages.languages[TENANT] = "es"  # changed in identity meanwhile
    clock.now += WORKING_LANGUAGE_TTL_SECONDS - 1
    second = await policy.understand(TENANT, "hallo")
    other = await policy.understand("t-2", "hallo")

    assert (first.translated_language, second.translated_language) == ("en", "en")
    assert other.translated_language == "fr"
    assert languages.asked == [TENANT, "t-2"]

    clock.now += 1
    third = await policy.understand(TENANT, "hallo")

    assert third.translated_language == "es"
    assert languages.asked == [TENANT, "t-2", TENANT]


async def test_an_empty_working_language_is_remembered_too() -> None:
    languages = FakeWorkingLanguages()
    policy = _policy(FakeTranslation(GERMAN), languages)

    await policy.understand(TENANT, "hallo")
    await policy.understand(TENANT, "hallo")

    assert languages.asked == [TENANT]


@pytest.mark.parametrize(
    ("tag", "primary"), [("en", "en"), ("EN-gb", "en"), ("zh-Hant-TW", "zh"), ("", "")]
)
def test_primary_language(tag: str, primary: str) -> None:
    assert primary_language(tag) == primary
