"""CustomersService over gRPC: maps protos to use cases and back, nothing more."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from google.protobuf.empty_pb2 import Empty

from crosstalk.customers.v1 import custom_fields_pb2, resources_pb2, scoring_pb2, tags_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import customers_service_pb2_grpc as pb_grpc
from crosstalk_common.api.field_mask import resolve_update_paths
from crosstalk_common.api.ordering import Direction, SortKey, parse_order_by
from crosstalk_common.api.pagination import ListRequest, PageTokenCodec, request_hash
from crosstalk_common.api.proto_fields import populated_fields
from crosstalk_common.api.resource_names import optional_resource_id, resource_id
from crosstalk_common.api.timestamps import time_field
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import Caller, require_caller
from customers.adapters.filtering import parse_customer_filter
from customers.adapters.mapping import (
    actor_of,
    custom_field_from_pb,
    custom_field_to_pb,
    customer_to_pb,
    draft_from_pb,
    identity_from_pb,
    kind_from_pb,
    lifecycle_change_to_pb,
    order_from_pb,
    order_to_pb,
    points_entry_to_pb,
    score_change_to_pb,
    stage_from_pb,
    tag_group_to_pb,
    tag_to_pb,
    timeline_entry_to_pb,
)
from customers.adapters.rpc_jobs import JobRpcs
from customers.adapters.rpc_scoring import ScoringRpcs
from customers.adapters.rpc_segments import SegmentRpcs
from customers.adapters.rpc_transfer import TransferRpcs
from customers.app.blacklist import Blacklist
from customers.app.custom_fields import CustomFieldService
from customers.app.exports import ExportService
from customers.app.identity_resolution import IdentityResolution
from customers.app.imports import ImportService
from customers.app.jobs import JobService
from customers.app.lifecycle import LifecycleStages
from customers.app.merging import MergeService
from customers.app.orders import Orders
from customers.app.points import Points
from customers.app.profiles import CustomerProfiles
from customers.app.score_changes import ScoreAdjustments
from customers.app.scoring import ScoringService
from customers.app.search import CustomerSearch
from customers.app.segments import SegmentService
from customers.app.tags import TagIds, TagService
from customers.app.timeline import Timeline
from customers.domain.model import (
    CUSTOM_FIELD_EDITABLE_FIELDS,
    EDITABLE_FIELDS,
    TAG_EDITABLE_FIELDS,
    TAG_GROUP_EDITABLE_FIELDS,
    Customer,
    Tag,
    TagGroup,
)

Context = Any  # grpc.aio.ServicerContext


def _customer_keys(customer: Customer) -> list[str]:
    assert customer.created_at is not None
    return [customer.created_at.isoformat(), customer.id]


class _HistoryRequest(ListRequest, Protocol):
    @property
    def parent(self) -> str: ...


class _HistoryItem(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


_Dated = TypeVar("_Dated", bound=_HistoryItem)


class CustomersServicer(
    JobRpcs, TransferRpcs, ScoringRpcs, SegmentRpcs, pb_grpc.CustomersServiceServicer
):
    """Customer, tag and custom field RPCs here; the other areas come from the mixins."""

    def __init__(
        self,
        page_tokens: PageTokenCodec,
        *,
        profiles: CustomerProfiles,
        search: CustomerSearch,
        identities: IdentityResolution,
        lifecycle: LifecycleStages,
        blacklist: Blacklist,
        scores: ScoreAdjustments,
        points: Points,
        orders: Orders,
        timeline: Timeline,
        tags: TagService,
        fields: CustomFieldService,
        jobs: JobService,
        scoring: ScoringService,
        segments: SegmentService,
        merging: MergeService,
        imports: ImportService,
        exports: ExportService,
    ) -> None:
        self._tokens = page_tokens
        self._profiles = profiles
        self._search = search
        self._identities = identities
        self._lifecycle = lifecycle
        self._blacklist = blacklist
        self._scores = scores
        self._points = points
        self._orders = orders
        self._timeline = timeline
        self._tags = tags
        self._fields = fields
        self._jobs = jobs
        self._scoring = scoring
        self._segments = segments
        self._merging = merging
        self._imports = imports
        self._exports = exports

    async def CreateCustomer(
        self, request: pb.CreateCustomerRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        draft = draft_from_pb(
            caller.tenant_id,
            request.customer,
            default_owner=caller.member_id,
            default_department=caller.department_id,
        )
        created = await self._profiles.create(draft, actor=actor_of(caller))
        return customer_to_pb(created)

    async def GetCustomer(
        self, request: pb.GetCustomerRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = resource_id(request.name, "customers")
        customer = await self._profiles.get(caller.tenant_id, caller.visibility, customer_id)
        return customer_to_pb(customer)

    async def UpdateCustomer(
        self, request: pb.UpdateCustomerRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = resource_id(request.customer.name, "customers", field="customer.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(request.customer),
            updatable=EDITABLE_FIELDS,
        )
        draft = draft_from_pb(caller.tenant_id, request.customer)
        changes = {path: getattr(draft, path) for path in paths}
        updated = await self._profiles.update(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            changes,
            request.customer.etag,
            actor=actor_of(caller),
        )
        return customer_to_pb(updated)

    async def DeleteCustomer(self, request: pb.DeleteCustomerRequest, context: Context) -> Empty:
        caller = require_caller(context)
        await self._profiles.delete(
            caller.tenant_id, caller.visibility, resource_id(request.name, "customers")
        )
        return Empty()

    async def ListCustomers(
        self, request: pb.ListCustomersRequest, context: Context
    ) -> pb.ListCustomersResponse:
        caller = require_caller(context)
        _customer_order(request.order_by)
        page, token = await self._page(caller, None, request, "")
        return pb.ListCustomersResponse(
            customers=[customer_to_pb(c) for c in page], next_page_token=token
        )

    async def SearchCustomers(
        self, request: pb.SearchCustomersRequest, context: Context
    ) -> pb.SearchCustomersResponse:
        caller = require_caller(context)
        _customer_order(request.order_by)
        condition = await parse_customer_filter(self._search, caller.tenant_id, request.condition)
        page, token = await self._page(caller, condition, request, request_hash(request.condition))
        return pb.SearchCustomersResponse(
            customers=[customer_to_pb(c) for c in page], next_page_token=token
        )

    async def _page(
        self, caller: Caller, condition: Any, request: ListRequest, params: str
    ) -> tuple[list[Customer], str]:
        window = self._tokens.window(request, caller.tenant_id, caller.subject, params)
        fetched = await self._search.page(
            caller.tenant_id,
            caller.visibility,
            condition=condition,
            after=window.after,
            limit=window.limit,
        )
        return window.cut(fetched, _customer_keys, weigh=_customer_bytes)

    async def CountCustomers(
        self, request: pb.CountCustomersRequest, context: Context
    ) -> pb.CountCustomersResponse:
        caller = require_caller(context)
        condition = await parse_customer_filter(self._search, caller.tenant_id, request.condition)
        count = await self._search.count(caller.tenant_id, caller.visibility, condition)
        return pb.CountCustomersResponse(count=count)

    async def ResolveIdentity(
        self, request: pb.ResolveIdentityRequest, context: Context
    ) -> pb.ResolveIdentityResponse:
        caller = require_caller(context)
        identity = identity_from_pb(request.identity, field="identity")
        customer, created = await self._identities.resolve_identity(
            caller.tenant_id, caller.visibility, identity, request.display_name, request.language
        )
        return pb.ResolveIdentityResponse(customer=customer_to_pb(customer), created=created)

    # --- tags on a customer ---------------------------------------------------

    async def AddTags(self, request: pb.AddTagsRequest, context: Context) -> resources_pb2.Customer:
        return await self._change_tags(request, context, remove=False)

    async def RemoveTags(
        self, request: pb.RemoveTagsRequest, context: Context
    ) -> resources_pb2.Customer:
        return await self._change_tags(request, context, remove=True)

    async def _change_tags(
        self, request: pb.AddTagsRequest | pb.RemoveTagsRequest, context: Context, *, remove: bool
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = resource_id(request.name, "customers")
        tag_ids = [resource_id(t, "tags", field=f"tags[{i}]") for i, t in enumerate(request.tags)]
        customer = await self._tags.change_customer_tags(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            TagIds(tag_ids),
            remove=remove,
            actor=actor_of(caller),
        )
        return customer_to_pb(customer)

    # --- lifecycle, blacklist, timeline ---------------------------------------

    async def SetLifecycleStage(
        self, request: pb.SetLifecycleStageRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = resource_id(request.name, "customers")
        stage = stage_from_pb(request.stage, field="stage")
        customer = await self._lifecycle.set_lifecycle_stage(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            stage,
            request.reason,
            actor=actor_of(caller),
        )
        return customer_to_pb(customer)

    async def _history_page(
        self,
        request: _HistoryRequest,
        caller: Caller,
        kind: str,
        fetch: Callable[..., Awaitable[Sequence[_Dated]]],
    ) -> tuple[list[_Dated], str]:
        """One page of a customer's history (lifecycle, score, points), keyed by (time, id)."""
        customer_id = resource_id(request.parent, "customers", field="parent")
        window = self._tokens.window(request, caller.tenant_id, caller.subject, kind, customer_id)
        fetched = await fetch(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            after=window.after,
            limit=window.limit,
        )
        return window.cut(fetched, lambda item: [item.created_at.isoformat(), item.id])

    async def ListLifecycleHistory(
        self, request: pb.ListLifecycleHistoryRequest, context: Context
    ) -> pb.ListLifecycleHistoryResponse:
        page, token = await self._history_page(
            request, require_caller(context), "lifecycle", self._lifecycle.lifecycle_history
        )
        return pb.ListLifecycleHistoryResponse(
            lifecycle_stage_changes=[lifecycle_change_to_pb(c) for c in page],
            next_page_token=token,
        )

    async def BlacklistCustomer(
        self, request: pb.BlacklistCustomerRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = resource_id(request.name, "customers")
        customer = await self._blacklist.blacklist(
            caller.tenant_id, caller.visibility, customer_id, request.reason, actor=actor_of(caller)
        )
        return customer_to_pb(customer)

    async def UnblacklistCustomer(
        self, request: pb.UnblacklistCustomerRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = resource_id(request.name, "customers")
        customer = await self._blacklist.unblacklist(
            caller.tenant_id, caller.visibility, customer_id, actor=actor_of(caller)
        )
        return customer_to_pb(customer)

    async def AdjustScore(
        self, request: pb.AdjustScoreRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = resource_id(request.name, "customers")
        customer = await self._scores.adjust_score(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            request.delta,
            request.reason,
            actor=actor_of(caller),
            request_id=request.request_id,
        )
        return customer_to_pb(customer)

    async def ListScoreHistory(
        self, request: pb.ListScoreHistoryRequest, context: Context
    ) -> pb.ListScoreHistoryResponse:
        page, token = await self._history_page(
            request, require_caller(context), "scores", self._scores.score_history
        )
        return pb.ListScoreHistoryResponse(
            score_changes=[score_change_to_pb(c) for c in page], next_page_token=token
        )

    async def EarnPoints(
        self, request: pb.EarnPointsRequest, context: Context
    ) -> scoring_pb2.PointsEntry:
        caller = require_caller(context)
        customer_id = resource_id(request.name, "customers")
        entry = await self._points.earn_points(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            request.points,
            request.reason,
            actor=actor_of(caller),
            order_id=_order_id(request.order, customer_id),
            expire_time=time_field(request, "expire_time"),
            request_id=request.request_id,
        )
        return points_entry_to_pb(entry)

    async def SpendPoints(
        self, request: pb.SpendPointsRequest, context: Context
    ) -> scoring_pb2.PointsEntry:
        caller = require_caller(context)
        customer_id = resource_id(request.name, "customers")
        entry = await self._points.spend_points(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            request.points,
            request.reason,
            actor=actor_of(caller),
            order_id=_order_id(request.order, customer_id),
            request_id=request.request_id,
        )
        return points_entry_to_pb(entry)

    async def ListPointsLedger(
        self, request: pb.ListPointsLedgerRequest, context: Context
    ) -> pb.ListPointsLedgerResponse:
        page, token = await self._history_page(
            request, require_caller(context), "points", self._points.points_ledger
        )
        return pb.ListPointsLedgerResponse(
            points_entries=[points_entry_to_pb(e) for e in page], next_page_token=token
        )

    async def RecordOrder(
        self, request: pb.RecordOrderRequest, context: Context
    ) -> scoring_pb2.Order:
        caller = require_caller(context)
        customer_id = resource_id(request.parent, "customers", field="parent")
        if not request.HasField("order"):
            raise InvalidArgument([FieldViolation("order", "required")])
        draft = order_from_pb(caller.tenant_id, customer_id, request.order)
        order = await self._orders.record_order(
            caller.tenant_id, caller.visibility, draft, actor=actor_of(caller)
        )
        return order_to_pb(order)

    async def ListOrders(
        self, request: pb.ListOrdersRequest, context: Context
    ) -> pb.ListOrdersResponse:
        caller = require_caller(context)
        customer_id = (
            ""
            if request.parent == "customers/-"
            else resource_id(request.parent, "customers", field="parent")
        )
        start = time_field(request, "start_time")
        end = time_field(request, "end_time")
        if start is not None and end is not None and end <= start:
            raise InvalidArgument([FieldViolation("end_time", "must be after start_time")])
        window = self._tokens.window(
            request,
            caller.tenant_id,
            caller.subject,
            "orders",
            customer_id,
            start.isoformat() if start else "",
            end.isoformat() if end else "",
        )
        page = await self._orders.orders(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            start=start,
            end=end,
            after=window.after,
            limit=window.limit,
        )
        page, token = window.cut(page, lambda item: [item.order_time.isoformat(), item.id])
        return pb.ListOrdersResponse(orders=[order_to_pb(o) for o in page], next_page_token=token)

    async def ListTimelineEvents(
        self, request: pb.ListTimelineEventsRequest, context: Context
    ) -> pb.ListTimelineEventsResponse:
        caller = require_caller(context)
        customer_id = resource_id(request.parent, "customers", field="parent")
        start = time_field(request, "start_time")
        end = time_field(request, "end_time")
        if start is not None and end is not None and end <= start:
            raise InvalidArgument([FieldViolation("end_time", "must be after start_time")])
        window = self._tokens.window(
            request,
            caller.tenant_id,
            caller.subject,
            "timeline",
            customer_id,
            sorted(request.types),
            start.isoformat() if start else "",
            end.isoformat() if end else "",
        )
        page = await self._timeline.timeline(
            caller.tenant_id,
            caller.visibility,
            customer_id,
            types=list(request.types),
            start=start,
            end=end,
            after=window.after,
            limit=window.limit,
        )
        page, token = window.cut(page, lambda item: [item.occurred_at.isoformat(), item.event_id])
        return pb.ListTimelineEventsResponse(
            timeline_events=[timeline_entry_to_pb(e) for e in page], next_page_token=token
        )

    # --- tag groups -----------------------------------------------------------

    async def CreateTagGroup(
        self, request: pb.CreateTagGroupRequest, context: Context
    ) -> tags_pb2.TagGroup:
        caller = require_caller(context)
        body = request.tag_group
        group = await self._tags.create_group(
            TagGroup(
                id="",
                tenant_id=caller.tenant_id,
                display_name=body.display_name,
                kind=kind_from_pb(body.kind, field="tag_group.kind"),
                exclusive=body.exclusive,
                description=body.description,
            )
        )
        return tag_group_to_pb(group)

    async def GetTagGroup(
        self, request: pb.GetTagGroupRequest, context: Context
    ) -> tags_pb2.TagGroup:
        caller = require_caller(context)
        group_id = resource_id(request.name, "tagGroups", field="name")
        return tag_group_to_pb(await self._tags.get_group(caller.tenant_id, group_id))

    async def ListTagGroups(
        self, request: pb.ListTagGroupsRequest, context: Context
    ) -> pb.ListTagGroupsResponse:
        caller = require_caller(context)
        kind = kind_from_pb(request.kind, field="kind") if request.kind else None
        window = self._tokens.window(
            request, caller.tenant_id, caller.subject, "tagGroups", request.kind
        )
        page = await self._tags.page_groups(
            caller.tenant_id, kind=kind, after=window.after, limit=window.limit
        )
        page, token = window.cut(page, lambda item: [item.display_name, item.id])
        return pb.ListTagGroupsResponse(
            tag_groups=[tag_group_to_pb(g) for g in page], next_page_token=token
        )

    async def UpdateTagGroup(
        self, request: pb.UpdateTagGroupRequest, context: Context
    ) -> tags_pb2.TagGroup:
        caller = require_caller(context)
        body = request.tag_group
        group_id = resource_id(body.name, "tagGroups", field="tag_group.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=TAG_GROUP_EDITABLE_FIELDS,
        )
        changes: dict[str, object] = {}
        for path in paths:
            if path == "kind":
                changes["kind"] = kind_from_pb(body.kind, field="tag_group.kind")
            else:
                changes[path] = getattr(body, path)
        group = await self._tags.update_group(caller.tenant_id, group_id, changes, body.etag)
        return tag_group_to_pb(group)

    async def DeleteTagGroup(self, request: pb.DeleteTagGroupRequest, context: Context) -> Empty:
        caller = require_caller(context)
        group_id = resource_id(request.name, "tagGroups", field="name")
        await self._tags.delete_group(caller.tenant_id, group_id, request.etag)
        return Empty()

    # --- tags -----------------------------------------------------------------

    async def CreateTag(self, request: pb.CreateTagRequest, context: Context) -> tags_pb2.Tag:
        caller = require_caller(context)
        body = request.tag
        tag = await self._tags.create_tag(
            Tag(
                id="",
                tenant_id=caller.tenant_id,
                display_name=body.display_name,
                group_id=optional_resource_id(body.tag_group, "tagGroups", field="tag.tag_group"),
                color=body.color,
                description=body.description,
            )
        )
        return tag_to_pb(tag)

    async def GetTag(self, request: pb.GetTagRequest, context: Context) -> tags_pb2.Tag:
        caller = require_caller(context)
        tag, count = await self._tags.get_tag(
            caller.tenant_id, resource_id(request.name, "tags", field="name")
        )
        return tag_to_pb(tag, count)

    async def ListTags(self, request: pb.ListTagsRequest, context: Context) -> pb.ListTagsResponse:
        caller = require_caller(context)
        group_id = optional_resource_id(request.tag_group, "tagGroups", field="tag_group")
        window = self._tokens.window(request, caller.tenant_id, caller.subject, "tags", group_id)
        page, counts = await self._tags.page_tags(
            caller.tenant_id, group_id=group_id, after=window.after, limit=window.limit
        )
        page, token = window.cut(page, lambda item: [item.display_name, item.id])
        return pb.ListTagsResponse(
            tags=[tag_to_pb(t, counts.get(t.id, 0)) for t in page], next_page_token=token
        )

    async def UpdateTag(self, request: pb.UpdateTagRequest, context: Context) -> tags_pb2.Tag:
        caller = require_caller(context)
        body = request.tag
        tag_id = resource_id(body.name, "tags", field="tag.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=TAG_EDITABLE_FIELDS,
        )
        changes: dict[str, object] = {}
        for path in paths:
            if path == "tag_group":
                changes["group_id"] = optional_resource_id(
                    body.tag_group, "tagGroups", field="tag.tag_group"
                )
            else:
                changes[path] = getattr(body, path)
        tag = await self._tags.update_tag(caller.tenant_id, tag_id, changes, body.etag)
        return tag_to_pb(tag)

    async def DeleteTag(self, request: pb.DeleteTagRequest, context: Context) -> Empty:
        caller = require_caller(context)
        tag_id = resource_id(request.name, "tags", field="name")
        await self._tags.delete_tag(caller.tenant_id, tag_id, request.etag, actor=actor_of(caller))
        return Empty()

    # --- custom field definitions ---------------------------------------------

    async def CreateCustomFieldDefinition(
        self, request: pb.CreateCustomFieldDefinitionRequest, context: Context
    ) -> custom_fields_pb2.CustomFieldDefinition:
        caller = require_caller(context)
        draft = custom_field_from_pb(caller.tenant_id, request.custom_field_definition)
        return custom_field_to_pb(await self._fields.create(draft))

    async def GetCustomFieldDefinition(
        self, request: pb.GetCustomFieldDefinitionRequest, context: Context
    ) -> custom_fields_pb2.CustomFieldDefinition:
        caller = require_caller(context)
        definition_id = resource_id(request.name, "customFieldDefinitions", field="name")
        return custom_field_to_pb(await self._fields.get(caller.tenant_id, definition_id))

    async def ListCustomFieldDefinitions(
        self, request: pb.ListCustomFieldDefinitionsRequest, context: Context
    ) -> pb.ListCustomFieldDefinitionsResponse:
        caller = require_caller(context)
        window = self._tokens.window(request, caller.tenant_id, caller.subject, "customFields")
        page = await self._fields.page(caller.tenant_id, after=window.after, limit=window.limit)
        page, token = window.cut(page, lambda item: [str(item.sort_order), item.key])
        return pb.ListCustomFieldDefinitionsResponse(
            custom_field_definitions=[custom_field_to_pb(d) for d in page], next_page_token=token
        )

    async def UpdateCustomFieldDefinition(
        self, request: pb.UpdateCustomFieldDefinitionRequest, context: Context
    ) -> custom_fields_pb2.CustomFieldDefinition:
        caller = require_caller(context)
        body = request.custom_field_definition
        definition_id = resource_id(
            body.name, "customFieldDefinitions", field="custom_field_definition.name"
        )
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=CUSTOM_FIELD_EDITABLE_FIELDS,
        )
        changes: dict[str, object] = {
            path: tuple(body.options) if path == "options" else getattr(body, path)
            for path in paths
        }
        updated = await self._fields.update(caller.tenant_id, definition_id, changes, body.etag)
        return custom_field_to_pb(updated)

    async def DeleteCustomFieldDefinition(
        self, request: pb.DeleteCustomFieldDefinitionRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        definition_id = resource_id(request.name, "customFieldDefinitions", field="name")
        await self._fields.delete(caller.tenant_id, definition_id, request.etag)
        return Empty()


# Customer pages are keyset pages over the filter index's creation order:
# newest first is the one order they can be served in.
_CUSTOMER_ORDERS = {"create_time": Direction.DESCENDING}
_NEWEST_FIRST = (SortKey("create_time", descending=True),)


def _customer_bytes(customer: Customer) -> int:
    # A customer can be large (custom fields, identities, tags): pages are cut by weight too.
    return customer_to_pb(customer).ByteSize()


def _order_id(order: str, customer_id: str) -> str:
    """The id of one of this customer's orders named by a points entry ("" when none)."""
    return optional_resource_id(order.strip(), f"customers/{customer_id}/orders", field="order")


def _customer_order(order_by: str) -> tuple[SortKey, ...]:
    """The order a customer List or Search asked for; unsupported ones are refused."""
    return parse_order_by(order_by, sortable=_CUSTOMER_ORDERS, default=_NEWEST_FIRST)
