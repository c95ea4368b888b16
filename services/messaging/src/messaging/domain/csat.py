"""CSAT surveys: multi-question, multilingual, answered once with a signed one-time token.

A survey about a conversation holds its questions (each with a text per
language) besides the overall 1-5 score. The customer answers through a public
route with the token from the survey's link: an HMAC-SHA256 over the tenant,
the survey id and the expiry, under a key from the settings. A token that does
not verify is refused before anything is read; one past its expiry is
refused as expired; a survey takes one answer, so a token cannot be used twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import Enum

from crosstalk_common.errors import FieldViolation, InvalidArgument
from messaging.domain.language_tags import best_match, canonical_tag

MAX_QUESTIONS = 20
MAX_QUESTION_TEXTS = 20
MAX_QUESTION_TEXT_LENGTH = 500
MAX_ANSWER_TEXT_LENGTH = 2_000
MAX_COMMENT_LENGTH = 2_000
MAX_EXPIRY = timedelta(days=90)
MIN_SCORE, MAX_SCORE = 1, 5

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_TOKEN_VERSION = "v1"  # noqa: S105 (a format marker, not a secret)


class SurveyState(Enum):
    SENT = "sent"
    ANSWERED = "answered"
    EXPIRED = "expired"


class QuestionKind(Enum):
    SCORE = "score"
    TEXT = "text"


@dataclass(frozen=True)
class QuestionText:
    language: str
    text: str


@dataclass(frozen=True)
class Question:
    key: str
    kind: QuestionKind | None
    texts: tuple[QuestionText, ...]
    required: bool = False

    def text_in(self, language: str) -> QuestionText:
        """The text in ``language`` (same tag, else same language), else the first one."""
        tag = best_match(language, (t.language for t in self.texts)) if language else None
        return next((t for t in self.texts if t.language == tag), self.texts[0])


@dataclass(frozen=True)
class Answer:
    question: str
    score: int = 0
    text: str = ""


@dataclass(frozen=True)
class CsatSurvey:
    id: str
    tenant_id: str
    conversation_id: str
    customer: str
    assignee: str
    language: str
    questions: tuple[Question, ...]
    sent_at: datetime
    expires_at: datetime
    state: SurveyState = SurveyState.SENT
    score: int = 0
    comment: str = ""
    answers: tuple[Answer, ...] = ()
    submitted_at: datetime | None = None
    request_id: str = ""

    def state_at(self, now: datetime) -> SurveyState:
        """SENT turns EXPIRED once expires_at has passed without an answer."""
        if self.state is SurveyState.SENT and now >= self.expires_at:
            return SurveyState.EXPIRED
        return self.state

    def seen_at(self, now: datetime) -> CsatSurvey:
        return replace(self, state=self.state_at(now))

    def answered(self, response: SurveyResponse, at: datetime) -> CsatSurvey:
        return replace(
            self,
            state=SurveyState.ANSWERED,
            score=response.score,
            comment=response.comment,
            answers=response.answers,
            submitted_at=at,
        )


def validate_questions(
    questions: Sequence[Question], *, prefix: str = "csat_survey.questions"
) -> tuple[Question, ...]:
    """Keys unique and lower_snake_case, a kind each, one text per language; language tags
    spelled one way. Every bad field reported at once."""
    bad: list[FieldViolation] = []
    if len(questions) > MAX_QUESTIONS:
        bad.append(FieldViolation(prefix, f"at most {MAX_QUESTIONS} questions"))
    seen: set[str] = set()
    checked: list[Question] = []
    for i, question in enumerate(questions):
        path = f"{prefix}[{i}]"
        key = question.key.strip()
        if not _KEY.match(key):
            bad.append(
                FieldViolation(
                    f"{path}.key", "must be lower_snake_case: a-z, 0-9 and _, at most 40"
                )
            )
        elif key in seen:
            bad.append(FieldViolation(f"{path}.key", f"{key!r} is used by another question"))
        seen.add(key)
        if question.kind is None:
            bad.append(
                FieldViolation(
                    f"{path}.kind", "must be CSAT_QUESTION_KIND_SCORE or CSAT_QUESTION_KIND_TEXT"
                )
            )
        if not question.texts:
            bad.append(FieldViolation(f"{path}.texts", "a question needs a text"))
        elif len(question.texts) > MAX_QUESTION_TEXTS:
            bad.append(FieldViolation(f"{path}.texts", f"at most {MAX_QUESTION_TEXTS} texts"))
        languages: set[str] = set()
        texts: list[QuestionText] = []
        for j, text in enumerate(question.texts):
            tpath = f"{path}.texts[{j}]"
            language = canonical_tag(text.language)
            if language is None:
                bad.append(
                    FieldViolation(
                        f"{tpath}.language", "must be a BCP-47 code such as 'en' or 'pt-BR'"
                    )
                )
            elif language in languages:
                bad.append(
                    FieldViolation(f"{tpath}.language", f"{language!r} has another text already")
                )
            else:
                languages.add(language)
            body = text.text.strip()
            if not body:
                bad.append(FieldViolation(f"{tpath}.text", "must not be empty"))
            elif len(body) > MAX_QUESTION_TEXT_LENGTH:
                bad.append(
                    FieldViolation(
                        f"{tpath}.text", f"at most {MAX_QUESTION_TEXT_LENGTH} characters"
                    )
                )
            texts.append(QuestionText(language or text.language, body))
        checked.append(replace(question, key=key, texts=tuple(texts)))
    if bad:
        raise InvalidArgument(bad)
    return tuple(checked)


def expiry_problem(expires_at: datetime, now: datetime, *, field: str) -> FieldViolation | None:
    if expires_at <= now:
        return FieldViolation(field, "must be in the future")
    if expires_at - now > MAX_EXPIRY:
        return FieldViolation(field, f"at most {MAX_EXPIRY.days} days ahead")
    return None


@dataclass(frozen=True)
class SurveyResponse:
    """What the customer answers: the overall score, a comment, and the questions' answers."""

    score: int
    comment: str = ""
    answers: tuple[Answer, ...] = ()

    def validated(self, survey: CsatSurvey) -> SurveyResponse:
        """Checked against the survey's questions; every bad field reported at once."""
        bad: list[FieldViolation] = []
        if not MIN_SCORE <= self.score <= MAX_SCORE:
            bad.append(FieldViolation("score", f"must be {MIN_SCORE} to {MAX_SCORE}"))
        comment = self.comment.strip()
        if len(comment) > MAX_COMMENT_LENGTH:
            bad.append(FieldViolation("comment", f"at most {MAX_COMMENT_LENGTH} characters"))
        questions = {q.key: q for q in survey.questions}
        answered: set[str] = set()
        answers: list[Answer] = []
        for i, answer in enumerate(self.answers):
            path = f"answers[{i}]"
            question = questions.get(answer.question.strip())
            if question is None:
                bad.append(
                    FieldViolation(f"{path}.question", f"{answer.question!r} is not a question")
                )
                continue
            if question.key in answered:
                bad.append(FieldViolation(f"{path}.question", f"{question.key!r} answered twice"))
                continue
            answered.add(question.key)
            if question.kind is QuestionKind.SCORE:
                if not MIN_SCORE <= answer.score <= MAX_SCORE:
                    bad.append(
                        FieldViolation(f"{path}.score", f"must be {MIN_SCORE} to {MAX_SCORE}")
                    )
                answers.append(Answer(question.key, score=answer.score))
            else:
                text = answer.text.strip()
                if len(text) > MAX_ANSWER_TEXT_LENGTH:
                    bad.append(
                        FieldViolation(
                            f"{path}.text", f"at most {MAX_ANSWER_TEXT_LENGTH} characters"
                        )
                    )
                elif not text and question.required:
                    bad.append(FieldViolation(f"{path}.text", "must not be empty"))
                answers.append(Answer(question.key, text=text))
        for question in survey.questions:
            if question.required and question.key not in answered:
                bad.append(FieldViolation("answers", f"question {question.key!r} must be answered"))
        if bad:
            raise InvalidArgument(bad)
        return SurveyResponse(self.score, comment, tuple(answers))


# --- the one-time answer token ---------------------------------------------------------


class BadToken(Exception):
    """The token was not made by us for this survey (malformed, altered, another survey)."""


class ExpiredToken(Exception):
    """The token verified but its survey's expiry has passed."""


@dataclass(frozen=True)
class TokenClaims:
    tenant_id: str
    survey_id: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadToken("not base64url") from exc


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, f"{_TOKEN_VERSION}.{payload}".encode(), hashlib.sha256).digest()


def sign_token(key: bytes, tenant_id: str, survey_id: str, expires_at: datetime) -> str:
    """``v1.<payload>.<mac>``: the payload names the tenant, the survey and the expiry
    (Unix seconds); the MAC is HMAC-SHA256 under ``key`` over the version and payload."""
    if not key:
        raise ValueError("a CSAT token key must not be empty")
    payload = _b64(f"{tenant_id}|{survey_id}|{int(expires_at.timestamp())}".encode())
    return f"{_TOKEN_VERSION}.{payload}.{_b64(_mac(key, payload))}"


def read_token(
    key: bytes, token: str, survey_id: str, now: datetime, *, allow_expired: bool = False
) -> TokenClaims:
    """The claims of a token made by ``sign_token`` for ``survey_id``.

    BadToken when it is malformed, altered, or for another survey (checked in
    constant time before anything in it is trusted); ExpiredToken past its expiry
    (unless ``allow_expired``: reading a survey's form after it expired).
    """
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != _TOKEN_VERSION:
        raise BadToken("not a CSAT token")
    _, payload, mac = parts
    if not hmac.compare_digest(_unb64(mac), _mac(key, payload)):
        raise BadToken("the signature does not match")
    try:
        tenant_id, token_survey, expiry = _unb64(payload).decode().split("|")
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
    except (UnicodeDecodeError, ValueError, OverflowError, OSError) as exc:
        raise BadToken("malformed payload") from exc
    if not hmac.compare_digest(token_survey.encode(), survey_id.encode()):
        raise BadToken("the token is for another survey")
    if now >= expires_at and not allow_expired:
        raise ExpiredToken(expires_at.isoformat())
    return TokenClaims(tenant_id, token_survey, expires_at)
