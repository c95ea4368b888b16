"""Proto <-> domain conversions of reply templates and CSAT surveys, and csat.submitted."""

from __future__ import annotations

from datetime import datetime

from crosstalk.events.v1 import messaging_events_pb2
from crosstalk.messaging.v1 import csat_pb2, templates_pb2
from crosstalk_common.api.timestamps import from_timestamp, timestamp_or_none
from crosstalk_common.errors import FieldViolation, InvalidArgument
from messaging.app.csat import survey_name
from messaging.app.templates import template_name
from messaging.domain.csat import (
    Answer,
    CsatSurvey,
    Question,
    QuestionKind,
    QuestionText,
    SurveyState,
)
from messaging.domain.events import CsatSubmitted
from messaging.domain.templates import (
    ReplyTemplate,
    TemplateBody,
    TemplateContent,
    TemplateVariable,
    TemplateVersion,
    TemplateVisibility,
)

_VISIBILITY_TO_PB = {
    TemplateVisibility.PRIVATE: templates_pb2.TEMPLATE_VISIBILITY_PRIVATE,
    TemplateVisibility.SHARED: templates_pb2.TEMPLATE_VISIBILITY_SHARED,
}
_VISIBILITY_FROM_PB: dict[int, TemplateVisibility] = {
    number: v for v, number in _VISIBILITY_TO_PB.items()
}
_STATE_TO_PB = {
    SurveyState.SENT: csat_pb2.CSAT_SURVEY_STATE_SENT,
    SurveyState.ANSWERED: csat_pb2.CSAT_SURVEY_STATE_ANSWERED,
    SurveyState.EXPIRED: csat_pb2.CSAT_SURVEY_STATE_EXPIRED,
}
_STATE_FROM_PB: dict[int, SurveyState] = {number: s for s, number in _STATE_TO_PB.items()}
_KIND_TO_PB = {
    QuestionKind.SCORE: csat_pb2.CSAT_QUESTION_KIND_SCORE,
    QuestionKind.TEXT: csat_pb2.CSAT_QUESTION_KIND_TEXT,
}
_KIND_FROM_PB: dict[int, QuestionKind] = {number: k for k, number in _KIND_TO_PB.items()}


def member_name(member_id: str) -> str:
    return f"members/{member_id}" if member_id else ""


# --- reply templates ------------------------------------------------------------------


def visibility_from_pb(value: int, *, field: str) -> TemplateVisibility | None:
    """None for UNSPECIFIED; INVALID_ARGUMENT for a number the proto does not define."""
    if value == templates_pb2.TEMPLATE_VISIBILITY_UNSPECIFIED:
        return None
    if value not in _VISIBILITY_FROM_PB:
        raise InvalidArgument.field(
            field, "must be TEMPLATE_VISIBILITY_PRIVATE or TEMPLATE_VISIBILITY_SHARED"
        )
    return _VISIBILITY_FROM_PB[value]


def bodies_from_pb(bodies: list[templates_pb2.TemplateBody]) -> tuple[TemplateBody, ...]:
    return tuple(TemplateBody(b.language, b.text) for b in bodies)


def variables_from_pb(
    variables: list[templates_pb2.TemplateVariable],
) -> tuple[TemplateVariable, ...]:
    return tuple(
        TemplateVariable(v.key, v.description, v.source_field, v.default_value) for v in variables
    )


def content_from_pb(body: templates_pb2.ReplyTemplate, *, prefix: str) -> TemplateContent:
    return TemplateContent(
        display_name=body.display_name,
        category=body.category,
        bodies=bodies_from_pb(list(body.bodies)),
        default_language=body.default_language,
        variables=variables_from_pb(list(body.variables)),
        visibility=visibility_from_pb(body.visibility, field=f"{prefix}.visibility"),
    )


def _content_fields(content: TemplateContent) -> dict[str, object]:
    return {
        "display_name": content.display_name,
        "category": content.category,
        "bodies": [
            templates_pb2.TemplateBody(language=b.language, text=b.text) for b in content.bodies
        ],
        "default_language": content.default_language,
        "variables": [
            templates_pb2.TemplateVariable(
                key=v.key,
                description=v.description,
                source_field=v.source_field,
                default_value=v.default_value,
            )
            for v in content.variables
        ],
        "visibility": _VISIBILITY_TO_PB[content.visibility]
        if content.visibility
        else templates_pb2.TEMPLATE_VISIBILITY_UNSPECIFIED,
    }


def template_to_pb(template: ReplyTemplate) -> templates_pb2.ReplyTemplate:
    return templates_pb2.ReplyTemplate(
        name=template_name(template.id),
        owner=member_name(template.owner_member_id),
        version=template.version,
        create_time=timestamp_or_none(template.created_at),
        update_time=timestamp_or_none(template.updated_at),
        etag=template.etag,
        **_content_fields(template.content),  # type: ignore[arg-type]
    )


def version_to_pb(
    version: TemplateVersion, owner_member_id: str = ""
) -> templates_pb2.ReplyTemplateVersion:
    name = template_name(version.template_id)
    return templates_pb2.ReplyTemplateVersion(
        name=f"{name}/versions/{version.version}",
        reply_template=templates_pb2.ReplyTemplate(
            name=name,
            owner=member_name(owner_member_id),
            version=version.version,
            update_time=timestamp_or_none(version.created_at),
            etag=f'W/"{version.version}"',
            **_content_fields(version.content),  # type: ignore[arg-type]
        ),
        author=version.author,
        create_time=timestamp_or_none(version.created_at),
        restored_from_version=version.restored_from,
    )


# --- CSAT -----------------------------------------------------------------------------


def state_from_pb(value: int, *, field: str) -> SurveyState | None:
    if value == csat_pb2.CSAT_SURVEY_STATE_UNSPECIFIED:
        return None
    if value not in _STATE_FROM_PB:
        raise InvalidArgument.field(field, "is not a CsatSurveyState")
    return _STATE_FROM_PB[value]


def questions_from_pb(
    questions: list[csat_pb2.CsatQuestion], *, prefix: str
) -> tuple[Question, ...]:
    bad: list[FieldViolation] = []
    found: list[Question] = []
    for i, q in enumerate(questions):
        kind = _KIND_FROM_PB.get(q.kind)
        if q.kind != csat_pb2.CSAT_QUESTION_KIND_UNSPECIFIED and kind is None:
            bad.append(FieldViolation(f"{prefix}[{i}].kind", "is not a CsatQuestionKind"))
        found.append(
            Question(
                key=q.key,
                kind=kind,
                texts=tuple(QuestionText(t.language, t.text) for t in q.texts),
                required=q.required,
            )
        )
    if bad:
        raise InvalidArgument(bad)
    return tuple(found)


def answers_from_pb(answers: list[csat_pb2.CsatAnswer]) -> tuple[Answer, ...]:
    return tuple(Answer(a.question, a.score, a.text) for a in answers)


def expire_time_from_pb(survey: csat_pb2.CsatSurvey, *, field: str) -> datetime | None:
    if not survey.HasField("expire_time"):
        return None
    try:
        return from_timestamp(survey.expire_time)
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field, "is not a valid timestamp") from None


def survey_to_pb(survey: CsatSurvey, *, token: str = "") -> csat_pb2.CsatSurvey:
    return csat_pb2.CsatSurvey(
        name=survey_name(survey.id),
        conversation=f"conversations/{survey.conversation_id}",
        customer=survey.customer,
        assignee=survey.assignee,
        state=_STATE_TO_PB[survey.state],
        score=survey.score,
        comment=survey.comment,
        language=survey.language,
        send_time=timestamp_or_none(survey.sent_at),
        submit_time=timestamp_or_none(survey.submitted_at),
        expire_time=timestamp_or_none(survey.expires_at),
        questions=[
            csat_pb2.CsatQuestion(
                key=q.key,
                kind=_KIND_TO_PB[q.kind] if q.kind else csat_pb2.CSAT_QUESTION_KIND_UNSPECIFIED,
                texts=[
                    csat_pb2.CsatQuestionText(language=t.language, text=t.text) for t in q.texts
                ],
                required=q.required,
            )
            for q in survey.questions
        ],
        answers=[
            csat_pb2.CsatAnswer(question=a.question, score=a.score, text=a.text)
            for a in survey.answers
        ],
        answer_token=token,
    )


def survey_form_to_pb(survey: CsatSurvey) -> csat_pb2.CsatSurveyForm:
    return csat_pb2.CsatSurveyForm(
        name=survey_name(survey.id),
        language=survey.language,
        state=_STATE_TO_PB[survey.state],
        expire_time=timestamp_or_none(survey.expires_at),
        questions=[
            csat_pb2.CsatFormQuestion(
                key=q.key,
                kind=_KIND_TO_PB[q.kind] if q.kind else csat_pb2.CSAT_QUESTION_KIND_UNSPECIFIED,
                text=q.text_in(survey.language).text,
                required=q.required,
            )
            for q in survey.questions
        ],
    )


def csat_submitted_pb(event: CsatSubmitted) -> messaging_events_pb2.CsatSubmitted:
    survey = event.survey
    return messaging_events_pb2.CsatSubmitted(
        csat_survey=survey_name(survey.id),
        conversation=f"conversations/{survey.conversation_id}",
        customer=survey.customer,
        assignee=survey.assignee,
        score=survey.score,
        comment=survey.comment,
    )
