"""MessagingService RPCs: CSAT surveys (SubmitCsat is public: its token is the credential)."""

from __future__ import annotations

from typing import Any

from crosstalk.messaging.v1 import csat_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.errors import InvalidArgument, Unauthenticated
from crosstalk_common.grpc.auth import require_caller
from messaging.adapters.template_mapping import (
    answers_from_pb,
    expire_time_from_pb,
    questions_from_pb,
    state_from_pb,
    survey_form_to_pb,
    survey_to_pb,
)
from messaging.app.csat import CsatService, SurveyDraft
from messaging.domain.csat import SurveyResponse

Context = Any

_SURVEYS = "csatSurveys"


class CsatRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""

    _csat: CsatService
    _page_tokens: PageTokenCodec

    async def CreateCsatSurvey(
        self, request: pb.CreateCsatSurveyRequest, context: Context
    ) -> csat_pb2.CsatSurvey:
        caller = require_caller(context)
        body = request.csat_survey
        if not body.conversation:
            raise InvalidArgument.field("csat_survey.conversation", "must not be empty")
        draft = SurveyDraft(
            conversation_id=resource_id(
                body.conversation, "conversations", field="csat_survey.conversation"
            ),
            questions=questions_from_pb(list(body.questions), prefix="csat_survey.questions"),
            language=body.language,
            expires_at=expire_time_from_pb(body, field="csat_survey.expire_time"),
            request_id=request.request_id.strip(),
        )
        created = await self._csat.create(caller.tenant_id, caller.visibility, draft)
        return survey_to_pb(created.survey, token=created.token)

    async def GetCsatSurvey(
        self, request: pb.GetCsatSurveyRequest, context: Context
    ) -> csat_pb2.CsatSurvey:
        caller = require_caller(context)
        survey_id = resource_id(request.name, _SURVEYS, field="name")
        return survey_to_pb(await self._csat.get(caller.tenant_id, caller.visibility, survey_id))

    async def ListCsatSurveys(
        self, request: pb.ListCsatSurveysRequest, context: Context
    ) -> pb.ListCsatSurveysResponse:
        caller = require_caller(context)
        conversation_id = (
            resource_id(request.conversation, "conversations", field="conversation")
            if request.conversation
            else ""
        )
        assignee = (
            "members/" + resource_id(request.assignee, "members", field="assignee")
            if request.assignee
            else ""
        )
        state = state_from_pb(request.state, field="state")
        window = self._page_tokens.window(
            request,
            caller.tenant_id,
            caller.subject,
            _SURVEYS,
            conversation_id,
            assignee,
            request.state,
        )
        fetched = await self._csat.page(
            caller.tenant_id,
            caller.visibility,
            conversation_id=conversation_id,
            assignee=assignee,
            state=state,
            after=window.after,
            limit=window.limit,
        )
        page, token = window.cut(fetched, lambda s: [s.sent_at.isoformat(), s.id])
        return pb.ListCsatSurveysResponse(
            csat_surveys=[survey_to_pb(s) for s in page], next_page_token=token
        )

    async def GetCsatSurveyForm(
        self, request: pb.GetCsatSurveyFormRequest, context: Context
    ) -> csat_pb2.CsatSurveyForm:
        # Public: no caller. The token is checked before anything else is read.
        if not request.token:
            raise Unauthenticated(
                "reading a survey needs the token from its link", reason="CSAT_TOKEN_MISSING"
            )
        survey_id = resource_id(request.name, _SURVEYS, field="name")
        return survey_form_to_pb(await self._csat.form(survey_id, request.token))

    async def SubmitCsat(
        self, request: pb.SubmitCsatRequest, context: Context
    ) -> csat_pb2.CsatSurvey:
        # Public: no caller. The token is checked before anything else is read.
        if not request.token:
            raise Unauthenticated(
                "answering a survey needs the token from its link", reason="CSAT_TOKEN_MISSING"
            )
        survey_id = resource_id(request.name, _SURVEYS, field="name")
        response = SurveyResponse(
            score=request.score,
            comment=request.comment,
            answers=answers_from_pb(list(request.answers)),
        )
        return survey_to_pb(await self._csat.submit(survey_id, request.token, response))
