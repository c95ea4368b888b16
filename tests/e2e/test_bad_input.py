"""Bad input gets INVALID_ARGUMENT naming the field: over gRPC and as HTTP 400 via Envoy."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from crosstalk.common.v1 import condition_pb2
from crosstalk.customers.v1 import customers_service_pb2 as cpb
from crosstalk.customers.v1 import customers_service_pb2_grpc as cgrpc
from crosstalk.customers.v1 import resources_pb2 as cres
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def _rest_violations(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["code"] == 3  # INVALID_ARGUMENT
    fields = []
    for detail in body.get("details", []):
        if detail["@type"] == BAD_REQUEST:
            fields += [v["field"] for v in detail["fieldViolations"]]
    return fields


def _grpc_violations(err: grpc.RpcError) -> list[str]:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status details on the error"
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Session:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        return sign_up(http, "Bad Input Testers")


@pytest.fixture(scope="module")
def customers_stub(stack: Stack) -> Any:
    channel = grpc.insecure_channel(stack.config.address("customers"))
    yield cgrpc.CustomersServiceStub(channel)
    channel.close()


def test_empty_name(stack: Stack, tenant: Session, customers_stub: Any) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        response = http.post("/v1/customers", headers=tenant.headers, json={"displayName": "  "})
        assert _rest_violations(response) == ["customer.display_name"]
        # nothing was written
        assert ok(http.get("/v1/customers", headers=tenant.headers)).get("customers", []) == []
    with pytest.raises(grpc.RpcError) as caught:
        customers_stub.CreateCustomer(
            cpb.CreateCustomerRequest(customer=cres.Customer(display_name="")),
            metadata=tenant.metadata,
            timeout=5,
        )
    assert _grpc_violations(caught.value) == ["customer.display_name"]


def test_unknown_field_in_condition(stack: Stack, tenant: Session, customers_stub: Any) -> None:
    condition = {
        "group": {
            "operator": "LOGICAL_OPERATOR_AND",
            "conditions": [
                {"leaf": {"field": "country", "operator": "OPERATOR_EQUALS", "values": ["DE"]}},
                {"leaf": {"field": "shoe_size", "operator": "OPERATOR_EQUALS", "values": ["42"]}},
            ],
        }
    }
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        response = http.post(
            "/v1/customers:search", headers=tenant.headers, json={"condition": condition}
        )
    assert _rest_violations(response) == ["condition.group.conditions[1].leaf.field"]
    assert "shoe_size" in response.json()["details"][-1]["fieldViolations"][0][
        "description"
    ] or any(
        "shoe_size" in v["description"]
        for d in response.json()["details"]
        if d["@type"] == BAD_REQUEST
        for v in d["fieldViolations"]
    )
    request = cpb.SearchCustomersRequest(
        condition=condition_pb2.Condition(
            leaf=condition_pb2.ConditionLeaf(
                field="shoe_size", operator=condition_pb2.OPERATOR_EQUALS, values=["42"]
            )
        )
    )
    with pytest.raises(grpc.RpcError) as caught:
        customers_stub.SearchCustomers(request, metadata=tenant.metadata, timeout=5)
    assert _grpc_violations(caught.value) == ["condition.leaf.field"]


def test_negative_page_size(stack: Stack, tenant: Session, customers_stub: Any) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        response = http.get("/v1/customers", headers=tenant.headers, params={"pageSize": -1})
    assert _rest_violations(response) == ["page_size"]
    with pytest.raises(grpc.RpcError) as caught:
        customers_stub.ListCustomers(
            cpb.ListCustomersRequest(page_size=-1), metadata=tenant.metadata, timeout=5
        )
    assert _grpc_violations(caught.value) == ["page_size"]


def test_bad_rule_and_message_are_rejected_whole(stack: Stack, tenant: Session) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        headers = tenant.headers
        rule = http.post(
            "/v1/rules",
            headers=headers,
            json={
                "displayName": "",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "condition": {
                    "leaf": {"field": "txt", "operator": "OPERATOR_CONTAINS", "values": ["x"]}
                },
                "actions": [{"addTag": {"tags": ["x"]}}],
            },
        )
        assert "rule.condition.leaf.field" in _rest_violations(rule)
        assert ok(http.get("/v1/rules", headers=headers)).get("rules", []) == []
        message = http.post(
            "/v1/messages:ingest",
            headers=headers,
            json={"sender": {"channel": "CHANNEL_EMAIL", "externalId": "x@y.test"}, "text": ""},
        )
        assert _rest_violations(message) == ["text"]
        unspecified = http.post(
            "/v1/messages:ingest",
            headers=headers,
            json={"sender": {"externalId": "x@y.test"}, "text": "hi"},
        )
        assert _rest_violations(unspecified) == ["sender.channel"]


def test_missing_tenant_is_unauthenticated(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        response = http.get("/v1/customers")
    assert response.status_code == 401


def test_update_body_naming_another_resource_is_refused(stack: Stack, tenant: Session) -> None:
    """The transcoder would let the body's name override the path's (schemathesis:
    PATCH /v1/members/0 updated the member its body named); the gateway refuses it."""
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        headers = tenant.headers
        first = ok(http.post("/v1/customers", headers=headers, json={"displayName": "First"}))
        second = ok(http.post("/v1/customers", headers=headers, json={"displayName": "Second"}))
        response = http.patch(
            f"/v1/{first['name']}",
            headers=headers,
            json={"name": second["name"], "displayName": "Renamed"},
        )
        assert _rest_violations(response) == ["customer.name"]
        assert ok(http.get(f"/v1/{second['name']}", headers=headers))["displayName"] == "Second"
        same = http.patch(
            f"/v1/{first['name']}",
            headers=headers,
            json={"name": first["name"], "displayName": "Renamed"},
        )
        assert ok(same)["displayName"] == "Renamed"


def test_destinations_inside_the_platform_network_are_refused(
    stack: Stack, tenant: Session
) -> None:
    """Server-side request forgery: a channel's webhook or SMTP host, or a rule's
    webhook, at a cloud metadata, private or link-local address is a 400 naming the
    field, and nothing is saved. (The test stack allows loopback for its own
    receivers; the kit's and the services' tests cover loopback refused.)"""
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        for secrets, field in [
            ({"outboundUrl": "http://169.254.169.254/latest/meta-data/"}, "outbound_url"),
            ({"outboundUrl": "https://[fd00::5]:8443/hook"}, "outbound_url"),
            ({"smtpHost": "10.0.0.25", "fromAddress": "shop@example.com"}, "smtp_host"),
        ]:
            response = http.post(
                "/v1/channelConfigs",
                headers=tenant.headers,
                json={
                    "displayName": "Forged",
                    "channel": "CHANNEL_WHATSAPP",
                    "secrets": secrets,
                },
            )
            assert _rest_violations(response) == [f"channel_config.secrets.{field}"]
        listed = ok(http.get("/v1/channelConfigs", headers=tenant.headers))
        assert [c for c in listed.get("channelConfigs", []) if c["displayName"] == "Forged"] == []

        response = http.post(
            "/v1/rules",
            headers=tenant.headers,
            json={
                "displayName": "Forged hook",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "actions": [{"callWebhook": {"url": "https://169.254.169.254/hook"}}],
            },
        )
        assert _rest_violations(response) == ["rule.actions[0].call_webhook.url"]
