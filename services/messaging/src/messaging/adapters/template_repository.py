"""Reply templates, their versions and CSAT surveys in SQL, always filtered by tenant (and
by the caller's data scope where a visibility is given); the conversation facts they read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, true, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.visibility import Visibility
from messaging.adapters.customer_scope import visible_customer
from messaging.adapters.tables import (
    conversations,
    csat_surveys,
    customer_snapshots,
    given,
    messages,
    reply_template_versions,
    reply_templates,
)
from messaging.app.template_ports import (
    ConversationFacts,
    CustomerFacts,
    DuplicateSurveyRequest,
    TemplateFilter,
)
from messaging.domain.csat import (
    Answer,
    CsatSurvey,
    Question,
    QuestionKind,
    QuestionText,
    SurveyResponse,
    SurveyState,
)
from messaging.domain.language_tags import UNDETERMINED
from messaging.domain.templates import (
    ReplyTemplate,
    TemplateBody,
    TemplateContent,
    TemplateVariable,
    TemplateVersion,
    TemplateVisibility,
)


def customer_scope(
    visibility: Visibility | None, tenant_id: Any, customer: Any
) -> ColumnElement[bool]:
    """The shared data-scope filter (adapters/customer_scope.py) over a row's customer; no
    visibility (a consumer, the public answer route) means no scope."""
    if visibility is None:
        return true()
    return visible_customer(visibility, tenant_id, customer)


# --- reply templates ------------------------------------------------------------------


def content_json(content: TemplateContent) -> dict[str, Any]:
    return {
        "display_name": content.display_name,
        "category": content.category,
        "default_language": content.default_language,
        "visibility": content.visibility.value if content.visibility else "",
        "bodies": [{"language": b.language, "text": b.text} for b in content.bodies],
        "variables": [
            {
                "key": v.key,
                "description": v.description,
                "source_field": v.source_field,
                "default_value": v.default_value,
            }
            for v in content.variables
        ],
    }


def content_from_json(data: dict[str, Any]) -> TemplateContent:
    return TemplateContent(
        display_name=data["display_name"],
        category=data.get("category", ""),
        default_language=data["default_language"],
        visibility=TemplateVisibility(data["visibility"]) if data.get("visibility") else None,
        bodies=tuple(TemplateBody(b["language"], b["text"]) for b in data["bodies"]),
        variables=tuple(
            TemplateVariable(
                v["key"],
                v.get("description", ""),
                v.get("source_field", ""),
                v.get("default_value", ""),
            )
            for v in data.get("variables", [])
        ),
    )


def _template(r: Row[Any]) -> ReplyTemplate:
    return ReplyTemplate(
        id=r.id,
        tenant_id=r.tenant_id,
        owner_member_id=r.owner_member_id,
        content=content_from_json(r.content),
        version=r.version,
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
    )


def _template_row(template: ReplyTemplate) -> dict[str, Any]:
    content = template.content
    assert content.visibility is not None
    return {
        "id": template.id,
        "tenant_id": template.tenant_id,
        "owner_member_id": template.owner_member_id,
        "display_name": content.display_name,
        "category": content.category,
        "default_language": content.default_language,
        "visibility": content.visibility.value,
        "languages": "|" + "|".join(content.languages) + "|",
        "search_text": "\n".join([content.display_name, *(b.text for b in content.bodies)]).lower(),
        "content": content_json(content),
        "version": template.version,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def _version_row(version: TemplateVersion) -> dict[str, Any]:
    return {
        "tenant_id": version.tenant_id,
        "template_id": version.template_id,
        "version": version.version,
        "content": content_json(version.content),
        "author": version.author,
        "restored_from": version.restored_from,
        "created_at": version.created_at,
    }


def _version(r: Row[Any]) -> TemplateVersion:
    return TemplateVersion(
        template_id=r.template_id,
        tenant_id=r.tenant_id,
        version=r.version,
        content=content_from_json(r.content),
        author=r.author,
        created_at=as_utc(r.created_at),
        restored_from=r.restored_from,
    )


class SqlTemplatesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, tenant_id: str, template_id: str) -> ReplyTemplate | None:
        row = (
            await self._session.execute(
                select(reply_templates).where(
                    reply_templates.c.tenant_id == tenant_id, reply_templates.c.id == template_id
                )
            )
        ).first()
        return None if row is None else _template(row)

    async def add(self, template: ReplyTemplate, first: TemplateVersion) -> None:
        await self._session.execute(insert(reply_templates).values(**_template_row(template)))
        await self._session.execute(insert(reply_template_versions).values(**_version_row(first)))

    async def save(
        self, template: ReplyTemplate, version: TemplateVersion, *, expected_version: int
    ) -> bool:
        row = _template_row(template)
        for kept in ("id", "tenant_id", "owner_member_id", "created_at"):
            del row[kept]
        result = await self._session.execute(
            update(reply_templates)
            .where(
                reply_templates.c.tenant_id == template.tenant_id,
                reply_templates.c.id == template.id,
                reply_templates.c.version == expected_version,
            )
            .values(**row)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        await self._session.execute(insert(reply_template_versions).values(**_version_row(version)))
        return True

    async def delete(self, tenant_id: str, template_id: str, *, expected_version: int) -> bool:
        result = await self._session.execute(
            delete(reply_templates).where(
                reply_templates.c.tenant_id == tenant_id,
                reply_templates.c.id == template_id,
                reply_templates.c.version == expected_version,
            )
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        await self._session.execute(
            delete(reply_template_versions).where(
                reply_template_versions.c.tenant_id == tenant_id,
                reply_template_versions.c.template_id == template_id,
            )
        )
        return True

    async def page(
        self,
        tenant_id: str,
        member_id: str,
        filters: TemplateFilter,
        *,
        after: Sequence[str],
        limit: int,
    ) -> list[ReplyTemplate]:
        t = reply_templates.c
        shared = t.visibility == TemplateVisibility.SHARED.value
        where: list[ColumnElement[bool]] = [
            t.tenant_id == tenant_id,
            or_(shared, t.owner_member_id == member_id) if member_id else shared,
        ]
        if filters.category:
            where.append(t.category == filters.category)
        if filters.language:
            where.append(t.languages.contains(f"|{filters.language}|", autoescape=True))
        if filters.query:
            where.append(t.search_text.contains(filters.query.lower(), autoescape=True))
        if after:
            where.append(past([t.display_name, t.id], list(after)))
        rows = await self._session.execute(
            select(reply_templates).where(*where).order_by(t.display_name, t.id).limit(limit)
        )
        return [_template(r) for r in rows]

    async def version(
        self, tenant_id: str, template_id: str, version: int
    ) -> TemplateVersion | None:
        v = reply_template_versions.c
        row = (
            await self._session.execute(
                select(reply_template_versions).where(
                    v.tenant_id == tenant_id, v.template_id == template_id, v.version == version
                )
            )
        ).first()
        return None if row is None else _version(row)

    async def versions(
        self, tenant_id: str, template_id: str, *, after: Sequence[str], limit: int
    ) -> list[TemplateVersion]:
        v = reply_template_versions.c
        where: list[ColumnElement[bool]] = [v.tenant_id == tenant_id, v.template_id == template_id]
        if after:
            where.append(v.version < int(after[0]))
        rows = await self._session.execute(
            select(reply_template_versions).where(*where).order_by(v.version.desc()).limit(limit)
        )
        return [_version(r) for r in rows]


# --- conversations, as templates and surveys read them --------------------------------


class SqlConversationLookup:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def conversation(
        self, tenant_id: str, visibility: Visibility | None, conversation_id: str
    ) -> ConversationFacts | None:
        c = conversations.c
        row = (
            await self._session.execute(
                select(c.id, c.customer, c.assignee, c.language).where(
                    c.tenant_id == tenant_id,
                    c.id == conversation_id,
                    customer_scope(visibility, c.tenant_id, c.customer),
                )
            )
        ).first()
        if row is None:
            return None
        language = row.language or UNDETERMINED
        if language == UNDETERMINED:
            # The language of the customer's latest message that had one.
            m = messages.c
            language = (
                await self._session.scalar(
                    select(m.language)
                    .where(
                        m.conversation_id == conversation_id,
                        m.direction == "inbound",
                        m.language != UNDETERMINED,
                    )
                    .order_by(m.created_at.desc())
                    .limit(1)
                )
            ) or UNDETERMINED
        return ConversationFacts(row.id, row.customer, row.assignee, language)

    async def customer_snapshot(self, tenant_id: str, customer: str) -> CustomerFacts | None:
        snapshot = customer_snapshots.c
        row = (
            await self._session.execute(
                select(snapshot.display_name, snapshot.language).where(
                    snapshot.tenant_id == tenant_id,
                    snapshot.customer == customer,
                    snapshot.deleted.is_(False),
                )
            )
        ).first()
        if row is None:
            return None
        fields = {"customer.display_name": row.display_name, "customer.language": row.language}
        return CustomerFacts(row.language, {k: v for k, v in fields.items() if v})


# --- CSAT surveys ---------------------------------------------------------------------


def _questions_json(questions: Sequence[Question]) -> list[dict[str, Any]]:
    return [
        {
            "key": q.key,
            "kind": q.kind.value if q.kind else "",
            "required": q.required,
            "texts": [{"language": t.language, "text": t.text} for t in q.texts],
        }
        for q in questions
    ]


def _questions(data: list[dict[str, Any]]) -> tuple[Question, ...]:
    return tuple(
        Question(
            key=q["key"],
            kind=QuestionKind(q["kind"]) if q.get("kind") else None,
            texts=tuple(QuestionText(t["language"], t["text"]) for t in q["texts"]),
            required=bool(q.get("required")),
        )
        for q in data
    )


def _answers_json(answers: Sequence[Answer]) -> list[dict[str, Any]]:
    return [{"question": a.question, "score": a.score, "text": a.text} for a in answers]


def _survey(r: Row[Any]) -> CsatSurvey:
    return CsatSurvey(
        id=r.id,
        tenant_id=r.tenant_id,
        conversation_id=r.conversation_id,
        customer=r.customer,
        assignee=r.assignee,
        language=r.language,
        questions=_questions(r.questions),
        sent_at=as_utc(r.sent_at),
        expires_at=as_utc(r.expires_at),
        state=SurveyState(r.state),
        score=r.score,
        comment=r.comment,
        answers=tuple(
            Answer(a["question"], a.get("score", 0), a.get("text", "")) for a in r.answers
        ),
        submitted_at=as_utc(r.submitted_at) if r.submitted_at else None,
        request_id=r.request_id,
    )


class SqlCsatRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(
        self, tenant_id: str, visibility: Visibility | None, survey_id: str
    ) -> CsatSurvey | None:
        s = csat_surveys.c
        row = (
            await self._session.execute(
                select(csat_surveys).where(
                    s.tenant_id == tenant_id,
                    s.id == survey_id,
                    customer_scope(visibility, s.tenant_id, s.customer),
                )
            )
        ).first()
        return None if row is None else _survey(row)

    async def get_for_answer(self, survey_id: str) -> CsatSurvey | None:
        row = (
            await self._session.execute(select(csat_surveys).where(csat_surveys.c.id == survey_id))
        ).first()
        return None if row is None else _survey(row)

    async def find_by_request(self, tenant_id: str, request_id: str) -> CsatSurvey | None:
        s = csat_surveys.c
        row = (
            await self._session.execute(
                select(csat_surveys).where(
                    s.tenant_id == tenant_id, s.request_id == request_id, given(s.request_id)
                )
            )
        ).first()
        return None if row is None else _survey(row)

    async def add(self, survey: CsatSurvey) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(csat_surveys).values(
                        id=survey.id,
                        tenant_id=survey.tenant_id,
                        conversation_id=survey.conversation_id,
                        customer=survey.customer,
                        assignee=survey.assignee,
                        language=survey.language,
                        questions=_questions_json(survey.questions),
                        state=survey.state.value,
                        score=survey.score,
                        comment=survey.comment,
                        answers=_answers_json(survey.answers),
                        sent_at=survey.sent_at,
                        expires_at=survey.expires_at,
                        submitted_at=survey.submitted_at,
                        request_id=survey.request_id,
                    )
                )
        except IntegrityError as exc:
            raise DuplicateSurveyRequest(str(exc.orig)) from exc

    async def answer(self, survey: CsatSurvey, response: SurveyResponse, at: datetime) -> bool:
        s = csat_surveys.c
        result = await self._session.execute(
            update(csat_surveys)
            .where(
                s.tenant_id == survey.tenant_id,
                s.id == survey.id,
                s.state == SurveyState.SENT.value,
                s.expires_at > at,
            )
            .values(
                state=SurveyState.ANSWERED.value,
                score=response.score,
                comment=response.comment,
                answers=_answers_json(response.answers),
                submitted_at=at,
            )
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        conversation_id: str,
        assignee: str,
        state: SurveyState | None,
        now: datetime,
        after: Sequence[str],
        limit: int,
    ) -> list[CsatSurvey]:
        s = csat_surveys.c
        where: list[ColumnElement[bool]] = [
            s.tenant_id == tenant_id,
            customer_scope(visibility, s.tenant_id, s.customer),
        ]
        if conversation_id:
            where.append(s.conversation_id == conversation_id)
        if assignee:
            where.append(s.assignee == assignee)
        if state is SurveyState.ANSWERED:
            where.append(s.state == SurveyState.ANSWERED.value)
        elif state is SurveyState.SENT:
            where.append(and_(s.state == SurveyState.SENT.value, s.expires_at > now))
        elif state is SurveyState.EXPIRED:
            where.append(and_(s.state == SurveyState.SENT.value, s.expires_at <= now))
        if after:
            sent_at, survey_id = after
            where.append(
                past(
                    [s.sent_at, s.id], [datetime.fromisoformat(sent_at), survey_id], descending=True
                )
            )
        rows = await self._session.execute(
            select(csat_surveys).where(*where).order_by(s.sent_at.desc(), s.id.desc()).limit(limit)
        )
        return [_survey(r) for r in rows]

    async def open_for_conversation(self, tenant_id: str, conversation_id: str) -> bool:
        s = csat_surveys.c
        found = await self._session.scalar(
            select(s.id)
            .where(
                s.tenant_id == tenant_id,
                s.conversation_id == conversation_id,
                s.state == SurveyState.SENT.value,
            )
            .limit(1)
        )
        return found is not None
