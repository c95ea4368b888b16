"""Reply templates: create, read, change (each change a new version), roll back, delete,
and render for a customer.

A private template is seen, used and changed by its owner only (NOT_FOUND for
anyone else); a shared one is seen and used by every member of the tenant, and
created, changed or deleted only with ``templates.manage_shared``, as is making
a template shared or private.

``TemplateRenderer.render`` is the use case replies and rule actions call to
write a message from a template (``RenderRequest`` in, ``Rendered`` out: the
text, its language, the template version to record on the message).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    Unauthenticated,
    Unavailable,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.app.ports import ServiceUnavailable, TranslationPort
from messaging.app.template_ports import (
    CustomerFacts,
    CustomerFactsPort,
    TemplateFilter,
    TemplatesUnitOfWork,
)
from messaging.domain.language_tags import UNDETERMINED, canonical_tag
from messaging.domain.templates import (
    ORDER_FIELDS,
    ReplyTemplate,
    TemplateContent,
    TemplateVersion,
    TemplateVisibility,
    choose_body,
    fill,
    validate_content,
    variable_values,
)

REPLY_TEMPLATE = "crosstalk.io/ReplyTemplate"
REPLY_TEMPLATE_VERSION = "crosstalk.io/ReplyTemplateVersion"
MANAGE_SHARED = "templates.manage_shared"


def template_name(template_id: str) -> str:
    return f"replyTemplates/{template_id}"


@dataclass(frozen=True)
class TemplateUser:
    """Who asks: the member (owner of what they create), whether they may manage shared
    templates, and their data scope (for the conversation a render reads).

    A rule or another service acting without a member has ``member_id`` "": it sees
    shared templates only.
    """

    tenant_id: str
    member_id: str
    can_manage_shared: bool = False
    visibility: Visibility | None = None

    @property
    def author(self) -> str:
        return f"members/{self.member_id}" if self.member_id else ""


@dataclass(frozen=True)
class TemplateService:
    new_uow: UnitOfWorkFactory[TemplatesUnitOfWork]

    async def create(self, draft: TemplateContent, user: TemplateUser) -> ReplyTemplate:
        if not user.member_id:
            raise PermissionDenied(
                "templates.use",
                "a reply template belongs to a member: call as a member, not an API key",
                reason="MEMBER_REQUIRED",
            )
        content = validate_content(
            replace(draft, visibility=draft.visibility or TemplateVisibility.PRIVATE)
        )
        if content.visibility is TemplateVisibility.SHARED:
            _require_manage_shared(user)
        now = utc_now()
        template = ReplyTemplate(
            id=str(uuid.uuid4()),
            tenant_id=user.tenant_id,
            owner_member_id=user.member_id,
            content=content,
            version=1,
            created_at=now,
            updated_at=now,
        )
        async with self.new_uow() as uow:
            await uow.templates.add(template, _version_of(template, user, now))
            await uow.commit()
        return template

    async def get(self, template_id: str, user: TemplateUser) -> ReplyTemplate:
        async with self.new_uow() as uow:
            return await _visible(uow, template_id, user)

    async def page(
        self, user: TemplateUser, filters: TemplateFilter, *, after: Sequence[str], limit: int
    ) -> list[ReplyTemplate]:
        language = filters.language.strip()
        if language:
            tag = canonical_tag(language)
            if tag is None:
                raise InvalidArgument.field(
                    "language", "must be a BCP-47 code such as 'en' or 'pt-BR'"
                )
            filters = replace(filters, language=tag)
        filters = replace(filters, category=filters.category.strip(), query=filters.query.strip())
        async with self.new_uow() as uow:
            return await uow.templates.page(
                user.tenant_id, user.member_id, filters, after=after, limit=limit
            )

    async def update(
        self, template_id: str, changes: Mapping[str, object], etag: str, user: TemplateUser
    ) -> ReplyTemplate:
        """``changes`` maps editable fields (domain.templates.EDITABLE_FIELDS) to values."""
        async with self.new_uow() as uow:
            current = await _changeable(uow, template_id, etag, user)
            content = validate_content(replace(current.content, **changes))  # type: ignore[arg-type]
            if content.visibility is not current.content.visibility:
                _require_manage_shared(user)
            return await _save(uow, current, content, user)

    async def rollback(
        self, template_id: str, version: int, etag: str, user: TemplateUser
    ) -> ReplyTemplate:
        """A new version holding ``version``'s content."""
        if version <= 0:
            raise InvalidArgument.field("version", "must be a version number (1 or more)")
        async with self.new_uow() as uow:
            current = await _changeable(uow, template_id, etag, user)
            if version >= current.version:
                raise InvalidArgument.field(
                    "version", f"must be an earlier version than the current {current.version}"
                )
            earlier = await uow.templates.version(user.tenant_id, template_id, version)
            if earlier is None:
                raise NotFound(
                    REPLY_TEMPLATE_VERSION, f"{template_name(template_id)}/versions/{version}"
                )
            if earlier.content.visibility is not current.content.visibility:
                _require_manage_shared(user)
            return await _save(uow, current, earlier.content, user, restored_from=version)

    async def delete(self, template_id: str, etag: str, user: TemplateUser) -> None:
        async with self.new_uow() as uow:
            current = await _changeable(uow, template_id, etag, user)
            if not await uow.templates.delete(
                user.tenant_id, template_id, expected_version=current.version
            ):
                raise Aborted.etag_mismatch(template_name(template_id))
            await uow.commit()

    async def versions(
        self, template_id: str, user: TemplateUser, *, after: Sequence[str], limit: int
    ) -> list[TemplateVersion]:
        async with self.new_uow() as uow:
            await _visible(uow, template_id, user)
            return await uow.templates.versions(
                user.tenant_id, template_id, after=after, limit=limit
            )


def _require_manage_shared(user: TemplateUser) -> None:
    if not user.can_manage_shared:
        raise PermissionDenied(
            MANAGE_SHARED,
            "creating, changing or deleting a shared template (or sharing one) needs "
            f"{MANAGE_SHARED!r}",
        )


def _version_of(
    template: ReplyTemplate, user: TemplateUser, at: datetime, restored_from: int = 0
) -> TemplateVersion:
    return TemplateVersion(
        template_id=template.id,
        tenant_id=template.tenant_id,
        version=template.version,
        content=template.content,
        author=user.author,
        created_at=at,
        restored_from=restored_from,
    )


async def _save(
    uow: TemplatesUnitOfWork,
    current: ReplyTemplate,
    content: TemplateContent,
    user: TemplateUser,
    *,
    restored_from: int = 0,
) -> ReplyTemplate:
    now = utc_now()
    updated = current.changed(content, now)
    saved = await uow.templates.save(
        updated,
        _version_of(updated, user, now, restored_from),
        expected_version=current.version,
    )
    if not saved:
        raise Aborted.etag_mismatch(template_name(current.id))
    await uow.commit()
    return updated


async def _visible(uow: TemplatesUnitOfWork, template_id: str, user: TemplateUser) -> ReplyTemplate:
    template = await uow.templates.get(user.tenant_id, template_id)
    if template is None or not template.visible_to(user.member_id):
        raise NotFound(REPLY_TEMPLATE, template_name(template_id))
    return template


async def _changeable(
    uow: TemplatesUnitOfWork, template_id: str, etag: str, user: TemplateUser
) -> ReplyTemplate:
    template = await _visible(uow, template_id, user)
    if template.shared:
        _require_manage_shared(user)
    check_etag(etag, template.etag, template_name(template_id))
    return template


# --- rendering ------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderRequest:
    template_id: str
    # BCP-47 wanted; "" means the conversation's language, else the customer's, else
    # the template's default.
    language: str = ""
    # Values for variables; the rest come from their source fields and defaults.
    variables: Mapping[str, str] = field(default_factory=dict)
    # "customers/{id}" to fill source fields from ("" = the conversation's customer).
    customer: str = ""
    conversation_id: str = ""
    # A past version; 0 = the current one.
    version: int = 0
    # Without a body in the language: machine-translate the default body instead of
    # failing.
    translate_if_missing: bool = False


@dataclass(frozen=True)
class Rendered:
    text: str
    language: str
    machine_translated: bool
    template_id: str
    template_version: int
    # Variables left as {{key}} for want of a value.
    missing_variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateRenderer:
    """Fills a template for a customer in their language (the use case replies and rule
    actions call; RenderTemplate maps to it)."""

    new_uow: UnitOfWorkFactory[TemplatesUnitOfWork]
    customers: CustomerFactsPort
    translation: TranslationPort

    async def render(self, user: TemplateUser, request: RenderRequest) -> Rendered:
        if request.version < 0:
            raise InvalidArgument.field("version", "must not be negative")
        wanted = request.language.strip()
        if wanted and canonical_tag(wanted) is None:
            raise InvalidArgument.field("language", "must be a BCP-47 code such as 'en' or 'pt-BR'")
        async with self.new_uow() as uow:
            template = await _visible(uow, request.template_id, user)
            content, version = template.content, template.version
            if request.version > template.version:
                # The template is there; the request names a version it never had.
                raise InvalidArgument.field(
                    "version", f"must be at most the template's current version {version}"
                )
            if request.version and request.version != template.version:
                past = await uow.templates.version(user.tenant_id, template.id, request.version)
                if past is None:
                    raise NotFound(
                        REPLY_TEMPLATE_VERSION,
                        f"{template_name(template.id)}/versions/{request.version}",
                    )
                content, version = past.content, past.version
            customer = request.customer
            if request.conversation_id:
                conversation = await uow.conversation_facts.conversation(
                    user.tenant_id, user.visibility, request.conversation_id
                )
                if conversation is None:
                    raise NotFound(
                        "crosstalk.io/Conversation", f"conversations/{request.conversation_id}"
                    )
                customer = customer or conversation.customer
                if not wanted and conversation.language != UNDETERMINED:
                    wanted = conversation.language
        # The caller's values are checked before any peer is asked.
        variable_values(content, request.variables, {})
        needed = content.source_fields
        sources: Mapping[str, str] = {}
        if customer and (needed or not wanted):
            facts = await self._facts(user.tenant_id, customer, bool(needed & ORDER_FIELDS))
            sources = facts.fields
            wanted = wanted or facts.language
        choice = choose_body(content, wanted)
        if choice.translate and not request.translate_if_missing:
            raise FailedPrecondition(
                [
                    PreconditionViolation(
                        "TEMPLATE_LANGUAGE",
                        template_name(template.id),
                        f"the template has no body in {choice.language!r}; set "
                        "translate_if_missing to machine-translate its default body",
                    )
                ],
                reason="TEMPLATE_LANGUAGE_MISSING",
            )
        text = choice.body.text
        if choice.translate:
            # Translated with its {{placeholders}} (translation keeps them as they are),
            # filled afterwards: values such as order numbers never pass an engine.
            try:
                text = await self.translation.translate(text, choice.body.language, choice.language)
            except (ServiceUnavailable, Unauthenticated) as exc:  # down, or no caller
                raise Unavailable(
                    f"could not machine-translate the template into {choice.language!r}: {exc}"
                ) from exc
        filled = fill(text, variable_values(content, request.variables, sources))
        return Rendered(
            text=filled.text,
            language=choice.language,
            machine_translated=choice.translate,
            template_id=template.id,
            template_version=version,
            missing_variables=filled.missing,
        )

    async def _facts(self, tenant_id: str, customer: str, with_order: bool) -> CustomerFacts:
        """From customers; when customers cannot be asked (down, or no caller to ask for,
        as when a rule renders), what messaging's customer snapshot knows (display name
        and language; order fields then stay missing)."""
        try:
            return await self.customers.facts(tenant_id, customer, with_order=with_order)
        except ServiceUnavailable as exc:
            async with self.new_uow() as uow:
                known = await uow.conversation_facts.customer_snapshot(tenant_id, customer)
            if known is None:
                raise Unavailable(f"could not read {customer} from customers: {exc}") from exc
            return known
