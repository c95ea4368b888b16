"""What the reply-template and CSAT use cases need from outside."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.visibility import Visibility
from messaging.domain.csat import CsatSurvey, SurveyResponse, SurveyState
from messaging.domain.events import MessagingEvent
from messaging.domain.templates import ReplyTemplate, TemplateVersion


class DuplicateSurveyRequest(Exception):
    """A survey with the same request id was stored concurrently."""


@dataclass(frozen=True)
class TemplateFilter:
    """ListReplyTemplates' filters; empty means any."""

    category: str = ""
    language: str = ""
    # Case-insensitive substring of the display name or a body.
    query: str = ""


class TemplatesRepository(Protocol):
    async def get(self, tenant_id: str, template_id: str) -> ReplyTemplate | None: ...

    async def add(self, template: ReplyTemplate, first: TemplateVersion) -> None:
        """The template and its first version."""
        ...

    async def save(
        self, template: ReplyTemplate, version: TemplateVersion, *, expected_version: int
    ) -> bool:
        """Writes the template's new content and its version row if it is still at
        ``expected_version``; False when someone changed it meanwhile."""
        ...

    async def delete(self, tenant_id: str, template_id: str, *, expected_version: int) -> bool:
        """The template and its versions; False when it changed meanwhile."""
        ...

    async def page(
        self,
        tenant_id: str,
        member_id: str,
        filters: TemplateFilter,
        *,
        after: Sequence[str],
        limit: int,
    ) -> list[ReplyTemplate]:
        """The member's private templates and every shared one, by display name and id."""
        ...

    async def version(
        self, tenant_id: str, template_id: str, version: int
    ) -> TemplateVersion | None: ...

    async def versions(
        self, tenant_id: str, template_id: str, *, after: Sequence[str], limit: int
    ) -> list[TemplateVersion]:
        """Newest first, keyed by the version number."""
        ...


@dataclass(frozen=True)
class ConversationFacts:
    """What templates and surveys read of a conversation."""

    id: str
    customer: str  # "customers/{id}"
    assignee: str  # "members/{id}" or ""
    # The customer's language in it ("und" when unknown).
    language: str


class ConversationLookup(Protocol):
    async def conversation(
        self, tenant_id: str, visibility: Visibility | None, conversation_id: str
    ) -> ConversationFacts | None:
        """The conversation when it exists in the tenant and (with a visibility) its
        customer is in that data scope; None otherwise."""
        ...

    async def customer_snapshot(self, tenant_id: str, customer: str) -> CustomerFacts | None:
        """What messaging's own customer snapshot knows (display name, language): the
        fallback when customers cannot be asked (no caller to ask for, e.g. a rule)."""
        ...


class CsatRepository(Protocol):
    async def get(
        self, tenant_id: str, visibility: Visibility | None, survey_id: str
    ) -> CsatSurvey | None:
        """The survey when it exists and (with a visibility) its customer is in scope."""
        ...

    async def get_for_answer(self, survey_id: str) -> CsatSurvey | None:
        """The survey by id alone, for the public answer route (the verified token
        names the tenant, which the caller compares)."""
        ...

    async def find_by_request(self, tenant_id: str, request_id: str) -> CsatSurvey | None: ...

    async def add(self, survey: CsatSurvey) -> None:
        """Raises DuplicateSurveyRequest when its request id is taken."""
        ...

    async def answer(self, survey: CsatSurvey, response: SurveyResponse, at: datetime) -> bool:
        """Records the answer if the survey is still SENT and unexpired at ``at``;
        False when it was answered (or expired) meanwhile."""
        ...

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
        """Newest first, keyed by (sent_at, id)."""
        ...

    async def open_for_conversation(self, tenant_id: str, conversation_id: str) -> bool:
        """Whether the conversation has a survey still waiting for its answer."""
        ...


class CsatSetting(Protocol):
    """The part of the tenant's messaging settings surveys read."""

    @property
    def send_csat_on_close(self) -> bool: ...


class CsatSettingsReader(Protocol):
    async def get(self, tenant_id: str) -> CsatSetting:
        """The tenant's messaging settings (the defaults when it changed none)."""
        ...


class TemplatesUnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def templates(self) -> TemplatesRepository: ...

    @property
    def csat(self) -> CsatRepository: ...

    @property
    def conversation_facts(self) -> ConversationLookup: ...

    @property
    def settings(self) -> CsatSettingsReader: ...

    async def record(self, event: MessagingEvent) -> None:
        """Stage an event; commit() writes it in the same transaction as the rows."""
        ...


@dataclass(frozen=True)
class CustomerFacts:
    """A customer's profile and latest order as template source fields read them:
    ``{"customer.display_name": ..., "order.external_id": ...}``; absent when unknown."""

    language: str
    fields: Mapping[str, str]


class CustomerFactsPort(Protocol):
    """The customers service, as rendering reads it (on behalf of the caller)."""

    async def facts(self, tenant_id: str, customer: str, *, with_order: bool) -> CustomerFacts:
        """The customer's fields, and their latest order's when ``with_order``.
        Raises NotFound when the customer does not exist (or is out of the caller's
        scope), ServiceUnavailable when customers cannot answer."""
        ...
