"""Segment, merge and duplicate RPCs, mixed into CustomersServicer: protos to use cases."""

from __future__ import annotations

from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.common.v1 import condition_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import resources_pb2, segments_pb2
from crosstalk_common.api.field_mask import resolve_update_paths
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.proto_fields import populated_fields
from crosstalk_common.api.resource_names import optional_resource_id, resource_id
from crosstalk_common.api.timestamps import timestamp_or_none
from crosstalk_common.conditions.model import Node
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import Caller, require_caller
from customers.adapters.filtering import parse_customer_filter
from customers.adapters.mapping import actor_of, customer_to_pb
from customers.app.merging import MergeService
from customers.app.search import CustomerSearch
from customers.app.segment_ports import FilterReader
from customers.app.segments import SegmentReader, SegmentService, segment_name
from customers.domain.duplicates import DuplicateSuggestion
from customers.domain.names import customer_name
from customers.domain.segments import SEGMENT_EDITABLE_FIELDS, Segment, SegmentVisibility

Context = Any  # grpc.aio.ServicerContext

# Each segment of a page is counted (one COUNT query each): pages stay small.
MAX_SEGMENT_PAGE_SIZE = 100

_VISIBILITY_TO_PB = {
    SegmentVisibility.PRIVATE: segments_pb2.SEGMENT_VISIBILITY_PRIVATE,
    SegmentVisibility.SHARED: segments_pb2.SEGMENT_VISIBILITY_SHARED,
}
_VISIBILITY_FROM_PB: dict[int, SegmentVisibility] = {
    number: visibility for visibility, number in _VISIBILITY_TO_PB.items()
}


def segment_filter_reader(search: CustomerSearch) -> FilterReader:
    """Reads a stored segment condition, checked against the tenant's current fields."""

    async def read(tenant_id: str, condition: bytes) -> Node | None:
        return await parse_customer_filter(
            search,
            tenant_id,
            condition_pb2.Condition.FromString(condition),
            field_path="segment.condition",
        )

    return read


def _visibility_from_pb(value: int, *, field: str) -> SegmentVisibility | None:
    """None for UNSPECIFIED; INVALID_ARGUMENT for a number the proto does not define."""
    if value == segments_pb2.SEGMENT_VISIBILITY_UNSPECIFIED:
        return None
    if value not in _VISIBILITY_FROM_PB:
        raise InvalidArgument(
            [
                FieldViolation(
                    field, "must be SEGMENT_VISIBILITY_PRIVATE or SEGMENT_VISIBILITY_SHARED"
                )
            ]
        )
    return _VISIBILITY_FROM_PB[value]


def _condition_bytes(body: segments_pb2.Segment) -> bytes:
    return (
        body.condition.SerializeToString(deterministic=True) if body.HasField("condition") else b""
    )


def segment_to_pb(segment: Segment) -> segments_pb2.Segment:
    assert segment.visibility is not None
    return segments_pb2.Segment(
        name=segment_name(segment.id),
        display_name=segment.display_name,
        description=segment.description,
        condition=condition_pb2.Condition.FromString(segment.condition),
        visibility=_VISIBILITY_TO_PB[segment.visibility],
        owner=f"members/{segment.owner_member_id}",
        customer_count=segment.customer_count,
        count_time=timestamp_or_none(segment.count_time),
        create_time=timestamp_or_none(segment.created_at),
        update_time=timestamp_or_none(segment.updated_at),
        etag=segment.etag,
    )


def suggestion_to_pb(found: DuplicateSuggestion) -> resources_pb2.DuplicateSuggestion:
    return resources_pb2.DuplicateSuggestion(
        customers=[customer_name(c) for c in found.customer_ids],
        matched_fields=list(found.matched_fields),
        confidence=found.confidence,
    )


def _reader(caller: Caller) -> SegmentReader:
    return SegmentReader(caller.tenant_id, caller.member_id, caller.visibility)


class SegmentRpcs:
    _tokens: PageTokenCodec
    _segments: SegmentService
    _merging: MergeService

    async def CreateSegment(
        self, request: pb.CreateSegmentRequest, context: Context
    ) -> segments_pb2.Segment:
        caller = require_caller(context)
        body = request.segment
        draft = Segment(
            id="",
            tenant_id=caller.tenant_id,
            display_name=body.display_name,
            description=body.description,
            condition=_condition_bytes(body),
            visibility=_visibility_from_pb(body.visibility, field="segment.visibility"),
            owner_member_id="",
        )
        return segment_to_pb(await self._segments.create(draft, _reader(caller)))

    async def GetSegment(
        self, request: pb.GetSegmentRequest, context: Context
    ) -> segments_pb2.Segment:
        caller = require_caller(context)
        segment_id = resource_id(request.name, "segments", field="name")
        return segment_to_pb(await self._segments.get(segment_id, _reader(caller)))

    async def ListSegments(
        self, request: pb.ListSegmentsRequest, context: Context
    ) -> pb.ListSegmentsResponse:
        caller = require_caller(context)
        only = _visibility_from_pb(request.visibility, field="visibility")
        window = self._tokens.window(
            request,
            caller.tenant_id,
            caller.subject,
            "segments",
            request.visibility,
            maximum=MAX_SEGMENT_PAGE_SIZE,
        )
        fetched = await self._segments.page(
            _reader(caller), visibility=only, after=window.after, limit=window.limit
        )
        page, token = window.cut(fetched, lambda item: [item.display_name, item.id])
        return pb.ListSegmentsResponse(
            segments=[segment_to_pb(s) for s in page], next_page_token=token
        )

    async def UpdateSegment(
        self, request: pb.UpdateSegmentRequest, context: Context
    ) -> segments_pb2.Segment:
        caller = require_caller(context)
        body = request.segment
        segment_id = resource_id(body.name, "segments", field="segment.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=SEGMENT_EDITABLE_FIELDS,
        )
        changes: dict[str, object] = {}
        for path in paths:
            if path == "condition":
                changes["condition"] = _condition_bytes(body)
            elif path == "visibility":
                changes["visibility"] = _visibility_from_pb(
                    body.visibility, field="segment.visibility"
                )
            else:
                changes[path] = getattr(body, path)
        updated = await self._segments.update(segment_id, changes, body.etag, _reader(caller))
        return segment_to_pb(updated)

    async def DeleteSegment(self, request: pb.DeleteSegmentRequest, context: Context) -> Empty:
        caller = require_caller(context)
        segment_id = resource_id(request.name, "segments", field="name")
        await self._segments.delete(segment_id, request.etag, _reader(caller))
        return Empty()

    async def MergeCustomers(
        self, request: pb.MergeCustomersRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        survivor_id = resource_id(request.customer, "customers", field="customer")
        merged_ids = [
            resource_id(name, "customers", field=f"merged_customers[{i}]")
            for i, name in enumerate(request.merged_customers)
        ]
        customer = await self._merging.merge(
            caller.tenant_id,
            caller.visibility,
            survivor_id,
            merged_ids,
            actor=actor_of(caller),
            request_id=request.request_id,
        )
        return customer_to_pb(customer)

    async def ListDuplicateSuggestions(
        self, request: pb.ListDuplicateSuggestionsRequest, context: Context
    ) -> pb.ListDuplicateSuggestionsResponse:
        caller = require_caller(context)
        customer_id = optional_resource_id(request.customer, "customers", field="customer")
        window = self._tokens.window(
            request,
            caller.tenant_id,
            caller.subject,
            "duplicates",
            customer_id,
            request.min_confidence,
        )
        # The use case pages candidate keys itself and says where the next page starts.
        found, cursor = await self._merging.duplicates(
            caller.tenant_id,
            caller.visibility,
            customer_id=customer_id,
            min_confidence=request.min_confidence,
            after=window.after,
            limit=window.size,
        )
        return pb.ListDuplicateSuggestionsResponse(
            duplicate_suggestions=[suggestion_to_pb(s) for s in found],
            next_page_token=window.token_after(cursor) if cursor else "",
        )
