"""Every request field has a size limit: declared in the proto, or the default.

The walker is tried on real request types (their limits come from the
``crosstalk.common.v1.max_length`` / ``max_items`` options in proto/), the
interceptor through a real grpc.aio server on 127.0.0.1:0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from crosstalk.customers.v1 import customers_service_pb2, resources_pb2
from crosstalk.identity.v1 import identity_service_pb2
from crosstalk.messaging.v1 import messaging_service_pb2
from crosstalk.rules.v1 import resources_pb2 as rules_pb2
from crosstalk.rules.v1 import rules_service_pb2
from crosstalk_common.api.request_bounds import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_LENGTH,
    check_request_bounds,
    request_bound_violations,
)
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.grpc.bounds import RequestBoundsInterceptor
from crosstalk_common.grpc.errors import ErrorMappingInterceptor


def fields(message: Any) -> list[str]:
    return [v.field for v in request_bound_violations(message)]


def rule_request(*tags: str, display_name: str = "VIP") -> rules_service_pb2.CreateRuleRequest:
    action = rules_pb2.Action(add_tag=rules_pb2.AddTagAction(tags=list(tags)))
    return rules_service_pb2.CreateRuleRequest(
        rule=rules_pb2.Rule(display_name=display_name, actions=[action])
    )


def test_declared_limits_are_enforced_to_the_character() -> None:
    assert fields(rule_request(*["t" * 64] * 50)) == []
    assert fields(rule_request("t" * 65)) == ["rule.actions[0].add_tag.tags[0]"]
    assert fields(rule_request(*["t"] * 51)) == ["rule.actions[0].add_tag.tags"]
    # Characters, not bytes: 64 four-byte characters are fine.
    assert fields(rule_request("😀" * 64)) == []
    [violation] = request_bound_violations(rule_request("x" * 600_000))
    assert violation.description == "must be at most 64 characters long, got 600,000"


def test_fields_without_a_declared_limit_get_the_defaults() -> None:
    name = "customers/" + "x" * DEFAULT_MAX_LENGTH
    assert fields(customers_service_pb2.GetCustomerRequest(name=name)) == ["name"]
    assert fields(customers_service_pb2.GetCustomerRequest(name=name[:DEFAULT_MAX_LENGTH])) == []
    long_name = rule_request("vip", display_name="n" * (DEFAULT_MAX_LENGTH + 1))
    assert fields(long_name) == ["rule.display_name"]
    phones = resources_pb2.Customer(phones=["1"] * 21)
    assert fields(customers_service_pb2.CreateCustomerRequest(customer=phones)) == [
        "customer.phones"
    ]
    mask = customers_service_pb2.UpdateCustomerRequest()
    mask.update_mask.paths.extend(["display_name"] * (DEFAULT_MAX_ITEMS + 1))
    assert fields(mask) == ["update_mask.paths"]


def test_free_text_and_files_have_larger_declared_limits() -> None:
    text = messaging_service_pb2.SendReplyRequest(text="a" * 10_000)
    assert fields(text) == []
    text.text += "a"
    assert fields(text) == ["text"]
    content = identity_service_pb2.PreviewMemberImportRequest(
        content=b"x" * (DEFAULT_MAX_BYTES + 1)
    )
    assert fields(content) == []
    content.content = b"x" * (10 * 1024 * 1024 + 1)
    [violation] = request_bound_violations(content)
    assert (violation.field, violation.description.split(",")[0]) == (
        "content",
        "must be at most 10",
    )
    assert "bytes" in violation.description


def test_maps_and_json_values_are_walked_with_their_paths() -> None:
    variables = messaging_service_pb2.RenderTemplateRequest(
        variables={"order_id": "x" * 2001, "odd key": "fine", "k" * 201: "v"}
    )
    assert fields(variables) == ["variables (a key)", "variables.order_id"]
    facts = struct_pb2.Struct()
    facts.update({"order": {"items": ["x" * (DEFAULT_MAX_LENGTH + 1)]}, "many": list(range(101))})
    assert fields(facts) == [
        "fields.many",
        "fields.order.items[0]",
    ]


def test_at_most_ten_violations_are_reported() -> None:
    request = rules_service_pb2.CreateRuleRequest(
        rule=rules_pb2.Rule(
            actions=[rules_pb2.Action(add_tag=rules_pb2.AddTagAction(tags=["t" * 65]))] * 15
        )
    )
    with pytest.raises(InvalidArgument) as caught:
        check_request_bounds(request)
    assert len(caught.value.violations) == 10


# --- through a grpc.aio server ------------------------------------------------------------

SERVICE = "crosstalk_test.BoundsProbe"
SEEN: list[Any] = []


@pytest.fixture
async def create_rule() -> AsyncIterator[Any]:
    async def echo(request: Any, context: Any) -> Any:
        SEEN.append(request)
        return request.rule

    handler = grpc.unary_unary_rpc_method_handler(
        echo,
        request_deserializer=rules_service_pb2.CreateRuleRequest.FromString,
        response_serializer=rules_pb2.Rule.SerializeToString,
    )
    server = grpc.aio.server(
        interceptors=[ErrorMappingInterceptor("probe.crosstalk.io"), RequestBoundsInterceptor()]
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"CreateRule": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    SEEN.clear()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel.unary_unary(
                f"/{SERVICE}/CreateRule",
                request_serializer=rules_service_pb2.CreateRuleRequest.SerializeToString,
                response_deserializer=rules_pb2.Rule.FromString,
            )
    finally:
        await server.stop(None)


async def test_the_interceptor_refuses_before_the_servicer_runs(create_rule: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create_rule(rule_request("x" * 600_000), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad) for detail in status.details)
    assert [v.field for v in bad.field_violations] == ["rule.actions[0].add_tag.tags[0]"]
    assert SEEN == []
    served = await create_rule(rule_request(*["t" * 64] * 50), timeout=5)
    assert len(served.actions[0].add_tag.tags) == 50
    assert len(SEEN) == 1
