"""CustomersService over gRPC: maps protos to use cases and back, nothing more."""

from __future__ import annotations

from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import customers_service_pb2_grpc as pb_grpc
from crosstalk.customers.v1 import resources_pb2
from crosstalk_common.api.field_mask import resolve_update_paths
from crosstalk_common.api.pagination import PageTokenCodec, coerce_page_size, request_hash
from crosstalk_common.api.proto_fields import populated_fields
from crosstalk_common.conditions.parse import parse_condition
from crosstalk_common.grpc.auth import Caller, require_caller
from customers.adapters.mapping import customer_to_pb, draft_from_pb, identity_from_pb
from customers.adapters.repository import FILTER_FIELDS
from customers.app.use_cases import CustomerService, parse_customer_name
from customers.domain.model import EDITABLE_FIELDS, Customer

Context = Any  # grpc.aio.ServicerContext


class CustomersServicer(pb_grpc.CustomersServiceServicer):
    def __init__(self, service: CustomerService, page_tokens: PageTokenCodec) -> None:
        self._service = service
        self._tokens = page_tokens

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
        created = await self._service.create(draft)
        return customer_to_pb(created)

    async def GetCustomer(
        self, request: pb.GetCustomerRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = parse_customer_name(request.name)
        customer = await self._service.get(caller.tenant_id, caller.visibility, customer_id)
        return customer_to_pb(customer)

    async def UpdateCustomer(
        self, request: pb.UpdateCustomerRequest, context: Context
    ) -> resources_pb2.Customer:
        caller = require_caller(context)
        customer_id = parse_customer_name(request.customer.name, field="customer.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(request.customer),
            updatable=EDITABLE_FIELDS,
        )
        draft = draft_from_pb(caller.tenant_id, request.customer)
        changes = {path: getattr(draft, path) for path in paths}
        updated = await self._service.update(
            caller.tenant_id, caller.visibility, customer_id, changes, request.customer.etag
        )
        return customer_to_pb(updated)

    async def DeleteCustomer(self, request: pb.DeleteCustomerRequest, context: Context) -> Empty:
        caller = require_caller(context)
        await self._service.delete(
            caller.tenant_id, caller.visibility, parse_customer_name(request.name)
        )
        return Empty()

    async def ListCustomers(
        self, request: pb.ListCustomersRequest, context: Context
    ) -> pb.ListCustomersResponse:
        caller = require_caller(context)
        page, token = await self._page(caller, None, request.page_size, request.page_token, "")
        return pb.ListCustomersResponse(
            customers=[customer_to_pb(c) for c in page], next_page_token=token
        )

    async def SearchCustomers(
        self, request: pb.SearchCustomersRequest, context: Context
    ) -> pb.SearchCustomersResponse:
        caller = require_caller(context)
        condition = parse_condition(request.condition, FILTER_FIELDS)
        page, token = await self._page(
            caller,
            condition,
            request.page_size,
            request.page_token,
            request_hash(request.condition),
        )
        return pb.SearchCustomersResponse(
            customers=[customer_to_pb(c) for c in page], next_page_token=token
        )

    async def _page(
        self, caller: Caller, condition: Any, page_size: int, page_token: str, params: str
    ) -> tuple[list[Customer], str]:
        size = coerce_page_size(page_size)
        scope = request_hash(caller.tenant_id, caller.subject, params)
        after = self._tokens.decode(page_token, scope)
        page = await self._service.page(
            caller.tenant_id, caller.visibility, condition=condition, after=after, limit=size + 1
        )
        if len(page) <= size:
            return page, ""
        last = page[size - 1]
        assert last.created_at is not None
        return page[:size], self._tokens.encode([last.created_at.isoformat(), last.id], scope)

    async def ResolveIdentity(
        self, request: pb.ResolveIdentityRequest, context: Context
    ) -> pb.ResolveIdentityResponse:
        caller = require_caller(context)
        identity = identity_from_pb(request.identity, field="identity")
        customer, created = await self._service.resolve_identity(
            caller.tenant_id, identity, request.display_name
        )
        return pb.ResolveIdentityResponse(customer=customer_to_pb(customer), created=created)
