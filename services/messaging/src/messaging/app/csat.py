"""CSAT surveys: sent about a conversation (by an agent, or when it closes if the tenant's
settings say so), answered once by the customer with a signed one-time token, read
within the caller's tenant and data scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
    Unauthenticated,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.app.template_ports import (
    ConversationFacts,
    DuplicateSurveyRequest,
    TemplatesUnitOfWork,
)
from messaging.domain.csat import (
    BadToken,
    CsatSurvey,
    ExpiredToken,
    Question,
    SurveyResponse,
    SurveyState,
    expiry_problem,
    read_token,
    sign_token,
    validate_questions,
)
from messaging.domain.events import CsatSubmitted
from messaging.domain.language_tags import UNDETERMINED, canonical_tag

CSAT_SURVEY = "crosstalk.io/CsatSurvey"
DEFAULT_EXPIRY = timedelta(days=7)


def survey_name(survey_id: str) -> str:
    return f"csatSurveys/{survey_id}"


@dataclass(frozen=True)
class SurveyDraft:
    conversation_id: str
    questions: tuple[Question, ...] = ()
    # BCP-47; "" = the conversation's language.
    language: str = ""
    expires_at: datetime | None = None
    request_id: str = ""


@dataclass(frozen=True)
class CreatedSurvey:
    survey: CsatSurvey
    # The one-time token for the customer's link.
    token: str


@dataclass(frozen=True)
class CsatService:
    new_uow: UnitOfWorkFactory[TemplatesUnitOfWork]
    token_key: bytes
    default_expiry: timedelta = DEFAULT_EXPIRY

    def token_for(self, survey: CsatSurvey) -> str:
        return sign_token(self.token_key, survey.tenant_id, survey.id, survey.expires_at)

    async def create(
        self, tenant_id: str, visibility: Visibility | None, draft: SurveyDraft
    ) -> CreatedSurvey:
        """A survey about a conversation of the caller's scope; a repeated request id
        answers the first survey."""
        now = utc_now()
        bad: list[FieldViolation] = []
        questions: tuple[Question, ...] = ()
        try:
            questions = validate_questions(draft.questions)
        except InvalidArgument as exc:
            bad.extend(exc.violations)
        language = ""
        if draft.language.strip():
            language = canonical_tag(draft.language) or ""
            if not language:
                bad.append(
                    FieldViolation(
                        "csat_survey.language", "must be a BCP-47 code such as 'en' or 'pt-BR'"
                    )
                )
        expires_at = draft.expires_at or now + self.default_expiry
        if draft.expires_at is not None and (
            problem := expiry_problem(draft.expires_at, now, field="csat_survey.expire_time")
        ):
            bad.append(problem)
        if bad:
            raise InvalidArgument(bad)
        async with self.new_uow() as uow:
            if draft.request_id:
                known = await uow.csat.find_by_request(tenant_id, draft.request_id)
                if known is not None:
                    return CreatedSurvey(known.seen_at(now), self.token_for(known))
            conversation = await uow.conversation_facts.conversation(
                tenant_id, visibility, draft.conversation_id
            )
            if conversation is None:
                raise NotFound(
                    "crosstalk.io/Conversation", f"conversations/{draft.conversation_id}"
                )
            survey = _new_survey(
                tenant_id, conversation, questions, language, now, expires_at, draft.request_id
            )
            try:
                await uow.csat.add(survey)
            except DuplicateSurveyRequest:
                known = await uow.csat.find_by_request(tenant_id, draft.request_id)
                if known is None:
                    raise
                return CreatedSurvey(known.seen_at(now), self.token_for(known))
            await uow.commit()
        return CreatedSurvey(survey, self.token_for(survey))

    async def get(self, tenant_id: str, visibility: Visibility, survey_id: str) -> CsatSurvey:
        async with self.new_uow() as uow:
            survey = await uow.csat.get(tenant_id, visibility, survey_id)
        if survey is None:
            raise NotFound(CSAT_SURVEY, survey_name(survey_id))
        return survey.seen_at(utc_now())

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        conversation_id: str,
        assignee: str,
        state: SurveyState | None,
        after: Sequence[str],
        limit: int,
    ) -> list[CsatSurvey]:
        now = utc_now()
        async with self.new_uow() as uow:
            found = await uow.csat.page(
                tenant_id,
                visibility,
                conversation_id=conversation_id,
                assignee=assignee,
                state=state,
                now=now,
                after=after,
                limit=limit,
            )
        return [s.seen_at(now) for s in found]

    async def submit(self, survey_id: str, token: str, response: SurveyResponse) -> CsatSurvey:
        """The customer's answer (no access token: ``token`` is the credential).

        A token that does not verify for this survey is UNAUTHENTICATED before anything
        is read; past the expiry, or once the survey is answered, FAILED_PRECONDITION.
        The answer and csat.submitted are written in one transaction.
        """
        now = utc_now()
        try:
            claims = read_token(self.token_key, token, survey_id, now)
        except BadToken:
            raise Unauthenticated(
                "the survey token is not valid for this survey", reason="CSAT_TOKEN_INVALID"
            ) from None
        except ExpiredToken:
            raise _refused(survey_id, "the survey has expired", "CSAT_SURVEY_EXPIRED") from None
        async with self.new_uow() as uow:
            survey = await uow.csat.get_for_answer(survey_id)
            if survey is None or survey.tenant_id != claims.tenant_id:
                raise Unauthenticated(
                    "the survey token is not valid for this survey", reason="CSAT_TOKEN_INVALID"
                )
            if survey.state_at(now) is SurveyState.EXPIRED:
                raise _refused(survey_id, "the survey has expired", "CSAT_SURVEY_EXPIRED")
            if survey.state is SurveyState.ANSWERED:
                raise _already_answered(survey_id)
            checked = response.validated(survey)
            if not await uow.csat.answer(survey, checked, now):
                raise _already_answered(survey_id)
            answered = survey.answered(checked, now)
            await uow.record(CsatSubmitted(answered))
            await uow.commit()
        return answered

    async def form(self, survey_id: str, token: str) -> CsatSurvey:
        """The survey for the page behind its link (public: ``token`` is the credential,
        checked before anything is read; reading does not use it up). An expired or
        answered survey is returned with that state."""
        now = utc_now()
        try:
            claims = read_token(self.token_key, token, survey_id, now, allow_expired=True)
        except BadToken:
            raise Unauthenticated(
                "the survey token is not valid for this survey", reason="CSAT_TOKEN_INVALID"
            ) from None
        async with self.new_uow() as uow:
            survey = await uow.csat.get_for_answer(survey_id)
        if survey is None or survey.tenant_id != claims.tenant_id:
            raise Unauthenticated(
                "the survey token is not valid for this survey", reason="CSAT_TOKEN_INVALID"
            )
        return survey.seen_at(now)

    async def on_conversation_closed(
        self, tenant_id: str, conversation_id: str
    ) -> CsatSurvey | None:
        """Sends a survey about a conversation that closed, when the tenant's messaging
        settings say so (send_csat_on_close) and none is waiting for an answer already.
        Runs in the consumer's unit of work (no caller: no data scope)."""
        now = utc_now()
        async with self.new_uow() as uow:
            if not (await uow.settings.get(tenant_id)).send_csat_on_close:
                return None
            conversation = await uow.conversation_facts.conversation(
                tenant_id, None, conversation_id
            )
            if conversation is None or await uow.csat.open_for_conversation(
                tenant_id, conversation_id
            ):
                return None
            survey = _new_survey(
                tenant_id, conversation, (), "", now, now + self.default_expiry, ""
            )
            await uow.csat.add(survey)
            await uow.commit()
        return survey


def _new_survey(
    tenant_id: str,
    conversation: ConversationFacts,
    questions: tuple[Question, ...],
    language: str,
    now: datetime,
    expires_at: datetime,
    request_id: str,
) -> CsatSurvey:
    if not language:
        language = conversation.language if conversation.language != UNDETERMINED else ""
    if not language and questions:
        language = questions[0].texts[0].language
    return CsatSurvey(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        conversation_id=conversation.id,
        customer=conversation.customer,
        assignee=conversation.assignee,
        language=language or UNDETERMINED,
        questions=questions,
        # The token carries whole seconds: the survey expires at the same instant.
        sent_at=now,
        expires_at=expires_at.replace(microsecond=0),
        request_id=request_id,
    )


def _refused(survey_id: str, description: str, reason: str) -> FailedPrecondition:
    return FailedPrecondition(
        [PreconditionViolation("CSAT_SURVEY_STATE", survey_name(survey_id), description)],
        reason=reason,
    )


def _already_answered(survey_id: str) -> FailedPrecondition:
    return _refused(
        survey_id,
        "the survey has been answered; its token cannot be used again",
        "CSAT_ALREADY_ANSWERED",
    )
