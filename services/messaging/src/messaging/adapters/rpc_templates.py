"""MessagingService RPCs: reply templates (CRUD, versions, rollback, rendering)."""

from __future__ import annotations

from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import templates_pb2
from crosstalk_common.api.field_mask import resolve_update_paths
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.proto_fields import populated_fields
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.grpc.auth import Caller, require_caller
from messaging.adapters.template_mapping import (
    bodies_from_pb,
    content_from_pb,
    template_to_pb,
    variables_from_pb,
    version_to_pb,
    visibility_from_pb,
)
from messaging.app.template_ports import TemplateFilter
from messaging.app.templates import (
    MANAGE_SHARED,
    RenderRequest,
    TemplateRenderer,
    TemplateService,
    TemplateUser,
)
from messaging.domain.templates import EDITABLE_FIELDS

Context = Any

_TEMPLATES = "replyTemplates"


def template_user(caller: Caller) -> TemplateUser:
    return TemplateUser(
        tenant_id=caller.tenant_id,
        member_id=caller.member_id,
        can_manage_shared=caller.can(MANAGE_SHARED),
        visibility=caller.visibility,
    )


class TemplateRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""

    _templates: TemplateService
    _renderer: TemplateRenderer
    _page_tokens: PageTokenCodec

    async def CreateReplyTemplate(
        self, request: pb.CreateReplyTemplateRequest, context: Context
    ) -> templates_pb2.ReplyTemplate:
        caller = require_caller(context)
        draft = content_from_pb(request.reply_template, prefix="reply_template")
        return template_to_pb(await self._templates.create(draft, template_user(caller)))

    async def GetReplyTemplate(
        self, request: pb.GetReplyTemplateRequest, context: Context
    ) -> templates_pb2.ReplyTemplate:
        caller = require_caller(context)
        template_id = resource_id(request.name, _TEMPLATES, field="name")
        return template_to_pb(await self._templates.get(template_id, template_user(caller)))

    async def ListReplyTemplates(
        self, request: pb.ListReplyTemplatesRequest, context: Context
    ) -> pb.ListReplyTemplatesResponse:
        caller = require_caller(context)
        filters = TemplateFilter(
            category=request.category, language=request.language, query=request.query
        )
        window = self._page_tokens.window(
            request,
            caller.tenant_id,
            caller.subject,
            _TEMPLATES,
            request.category,
            request.language,
            request.query,
        )
        fetched = await self._templates.page(
            template_user(caller), filters, after=window.after, limit=window.limit
        )
        page, token = window.cut(fetched, lambda t: [t.content.display_name, t.id])
        return pb.ListReplyTemplatesResponse(
            reply_templates=[template_to_pb(t) for t in page], next_page_token=token
        )

    async def UpdateReplyTemplate(
        self, request: pb.UpdateReplyTemplateRequest, context: Context
    ) -> templates_pb2.ReplyTemplate:
        caller = require_caller(context)
        body = request.reply_template
        template_id = resource_id(body.name, _TEMPLATES, field="reply_template.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=EDITABLE_FIELDS,
        )
        changes: dict[str, object] = {}
        for path in paths:
            if path == "bodies":
                changes[path] = bodies_from_pb(list(body.bodies))
            elif path == "variables":
                changes[path] = variables_from_pb(list(body.variables))
            elif path == "visibility":
                changes[path] = visibility_from_pb(
                    body.visibility, field="reply_template.visibility"
                )
            else:
                changes[path] = getattr(body, path)
        updated = await self._templates.update(
            template_id, changes, body.etag, template_user(caller)
        )
        return template_to_pb(updated)

    async def DeleteReplyTemplate(
        self, request: pb.DeleteReplyTemplateRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        template_id = resource_id(request.name, _TEMPLATES, field="name")
        await self._templates.delete(template_id, request.etag, template_user(caller))
        return Empty()

    async def ListReplyTemplateVersions(
        self, request: pb.ListReplyTemplateVersionsRequest, context: Context
    ) -> pb.ListReplyTemplateVersionsResponse:
        caller = require_caller(context)
        template_id = resource_id(request.parent, _TEMPLATES, field="parent")
        window = self._page_tokens.window(
            request, caller.tenant_id, caller.subject, "replyTemplateVersions", template_id
        )
        user = template_user(caller)
        fetched = await self._templates.versions(
            template_id, user, after=window.after, limit=window.limit
        )
        page, token = window.cut(fetched, lambda v: [str(v.version)])
        template = await self._templates.get(template_id, user) if page else None
        owner = template.owner_member_id if template else ""
        return pb.ListReplyTemplateVersionsResponse(
            reply_template_versions=[version_to_pb(v, owner) for v in page],
            next_page_token=token,
        )

    async def RollbackReplyTemplate(
        self, request: pb.RollbackReplyTemplateRequest, context: Context
    ) -> templates_pb2.ReplyTemplate:
        caller = require_caller(context)
        template_id = resource_id(request.name, _TEMPLATES, field="name")
        restored = await self._templates.rollback(
            template_id, request.version, request.etag, template_user(caller)
        )
        return template_to_pb(restored)

    async def RenderTemplate(
        self, request: pb.RenderTemplateRequest, context: Context
    ) -> pb.RenderTemplateResponse:
        caller = require_caller(context)
        template_id = resource_id(request.name, _TEMPLATES, field="name")
        customer = ""
        if request.customer:
            customer = "customers/" + resource_id(request.customer, "customers", field="customer")
        conversation_id = (
            resource_id(request.conversation, "conversations", field="conversation")
            if request.conversation
            else ""
        )
        rendered = await self._renderer.render(
            template_user(caller),
            RenderRequest(
                template_id=template_id,
                language=request.language,
                variables=dict(request.variables),
                customer=customer,
                conversation_id=conversation_id,
                version=request.version,
                translate_if_missing=request.translate_if_missing,
            ),
        )
        return pb.RenderTemplateResponse(
            text=rendered.text,
            language=rendered.language,
            machine_translated=rendered.machine_translated,
            template_version=rendered.template_version,
            missing_variables=list(rendered.missing_variables),
        )
