"""CSAT in the domain: the one-time token, questions, and what an answer may hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosstalk_common.errors import InvalidArgument
from messaging.domain.csat import (
    Answer,
    BadToken,
    CsatSurvey,
    ExpiredToken,
    Question,
    QuestionKind,
    QuestionText,
    SurveyResponse,
    SurveyState,
    read_token,
    sign_token,
    validate_questions,
)

KEY = b"k" * 32
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=7)

SPEED = Question(
    "speed",
    QuestionKind.SCORE,
    (QuestionText("en", "How fast?"), QuestionText("es", "¿Rapidez?")),
    True,
)
WHY = Question("why", QuestionKind.TEXT, (QuestionText("en", "Why?"),))


def survey(**overrides: object) -> CsatSurvey:
    base = CsatSurvey(
        id="s-1",
        tenant_id="t-1",
        conversation_id="c-1",
        customer="customers/cu-1",
        assignee="members/m-1",
        language="es",
        questions=(SPEED, WHY),
        sent_at=NOW,
        expires_at=LATER,
    )
    return CsatSurvey(**{**base.__dict__, **overrides})  # type: ignore[arg-type]


def test_a_token_reads_back_its_claims() -> None:
    token = sign_token(KEY, "t-1", "s-1", LATER)
    claims = read_token(KEY, token, "s-1", NOW)
    assert (claims.tenant_id, claims.survey_id, claims.expires_at) == ("t-1", "s-1", LATER)


def test_a_token_for_another_survey_or_key_or_altered_is_bad() -> None:
    token = sign_token(KEY, "t-1", "s-1", LATER)
    with pytest.raises(BadToken):
        read_token(KEY, token, "s-2", NOW)
    with pytest.raises(BadToken):
        read_token(b"x" * 32, token, "s-1", NOW)
    version, payload, mac = token.split(".")
    forged = sign_token(KEY, "t-2", "s-1", LATER).split(".")[1]
    with pytest.raises(BadToken):
        read_token(KEY, f"{version}.{forged}.{mac}", "s-1", NOW)
    for garbage in ("", "v1", "v1.a.b", "v2." + payload + "." + mac, token + "x", "v1.!!.??"):
        with pytest.raises(BadToken):
            read_token(KEY, garbage, "s-1", NOW)


def test_a_token_past_its_expiry_is_expired_not_bad() -> None:
    token = sign_token(KEY, "t-1", "s-1", LATER)
    with pytest.raises(ExpiredToken):
        read_token(KEY, token, "s-1", LATER)
    assert read_token(KEY, token, "s-1", LATER, allow_expired=True).survey_id == "s-1"
    # A token is only expired once it verified: an altered expired one is bad.
    with pytest.raises(BadToken):
        read_token(KEY, token[:-2] + "AA", "s-1", LATER + timedelta(days=1))


def test_a_survey_expires_unless_answered() -> None:
    assert survey().state_at(NOW) is SurveyState.SENT
    assert survey().state_at(LATER) is SurveyState.EXPIRED
    assert survey(state=SurveyState.ANSWERED).state_at(LATER) is SurveyState.ANSWERED


def test_questions_are_checked_and_their_texts_picked_by_language() -> None:
    checked = validate_questions([SPEED, WHY])
    assert checked[0].text_in("es-MX").text == "¿Rapidez?"
    assert checked[0].text_in("fr").text == "How fast?"
    with pytest.raises(InvalidArgument) as caught:
        validate_questions(
            [
                Question("Speed!", None, ()),
                Question(
                    "why", QuestionKind.TEXT, (QuestionText("en", "a"), QuestionText("EN", "b"))
                ),
                Question("why", QuestionKind.TEXT, (QuestionText("xx-yyyyyyyyyy", ""),)),
            ]
        )
    fields = {v.field for v in caught.value.violations}
    assert fields == {
        "csat_survey.questions[0].key",
        "csat_survey.questions[0].kind",
        "csat_survey.questions[0].texts",
        "csat_survey.questions[1].texts[1].language",
        "csat_survey.questions[2].key",
        "csat_survey.questions[2].texts[0].language",
        "csat_survey.questions[2].texts[0].text",
    }


def test_an_answer_is_checked_against_the_questions() -> None:
    good = SurveyResponse(5, " great ", (Answer("speed", 4), Answer("why", text=" quick ")))
    assert good.validated(survey()) == SurveyResponse(
        5, "great", (Answer("speed", score=4), Answer("why", text="quick"))
    )
    with pytest.raises(InvalidArgument) as caught:
        SurveyResponse(
            0, "", (Answer("speed", 9), Answer("speed", 3), Answer("mood", 1))
        ).validated(survey())
    fields = {v.field for v in caught.value.violations}
    assert fields == {"score", "answers[0].score", "answers[1].question", "answers[2].question"}
    with pytest.raises(InvalidArgument) as caught:
        SurveyResponse(3).validated(survey())
    assert [v.field for v in caught.value.violations] == ["answers"]  # speed is required
