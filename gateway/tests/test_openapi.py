"""The OpenAPI 3.1 document (crosstalk_gateway.openapi) and Envoy serving it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from crosstalk_gateway.descriptors import api_services, read_descriptor_set
from crosstalk_gateway.generate import build_envoy_config, write_envoy_config
from crosstalk_gateway.openapi import (
    OPENAPI_PATH,
    build_openapi,
    main,
    openapi_path,
    transcoded_operations,
)
from crosstalk_gateway.process import envoy_running, free_port
from crosstalk_gateway.settings import load_settings


@pytest.fixture(scope="module")
def document(descriptor_path: Path, gateway_yaml: Path) -> dict[str, Any]:
    settings = load_settings(gateway_yaml)
    return build_openapi(read_descriptor_set(descriptor_path), settings.auth.public_methods)


def _operation(document: dict[str, Any], grpc_method: str, n: int = 0) -> dict[str, Any]:
    found = [
        op
        for item in document["paths"].values()
        for op in item.values()
        if op["x-grpc-method"] == grpc_method
    ]
    assert found, grpc_method
    return sorted(found, key=lambda op: op["operationId"])[n]


def test_it_validates_as_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_the_validator_catches_a_broken_document(document: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(document))
    first = next(iter(broken["paths"].values()))
    next(iter(first.values()))["responses"] = "none"
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_transcoded_route_is_in_it(document: dict[str, Any], descriptor_path: Path) -> None:
    """Each HTTP binding of each crosstalk.* method is one operation, at its path."""
    expected: set[tuple[str, str]] = set()
    for service in api_services(read_descriptor_set(descriptor_path)):
        for method in service.methods:
            for binding in method.http:
                expected.add((method.key, f"{binding.verb} {openapi_path(binding.path)[0]}"))
    assert len(expected) > 150
    assert transcoded_operations(document) == expected


def test_path_templates_become_one_parameter_per_segment() -> None:
    path, params = openapi_path("/v1/{name=conversations/*/messages/*}:translate")
    assert path == "/v1/conversations/{conversation_id}/messages/{message_id}:translate"
    assert [(p.name, p.field) for p in params] == [
        ("conversation_id", "name"),
        ("message_id", "name"),
    ]
    assert openapi_path("/v1/{customer.name=customers/*}")[0] == "/v1/customers/{customer_id}"
    templates = openapi_path("/v1/{name=replyTemplates/*}")[0]
    assert templates == "/v1/replyTemplates/{reply_template_id}"
    assert openapi_path("/v1/{name=ruleSettings}") == ("/v1/ruleSettings", [])


def test_get_reads_the_other_fields_from_the_query(document: dict[str, Any]) -> None:
    op = _operation(document, "crosstalk.customers.v1.CustomersService/ListCustomers")
    names = {p["name"]: p for p in op["parameters"]}
    assert {"pageSize", "pageToken", "orderBy"} <= names.keys()
    assert all(p["in"] == "query" for p in names.values())
    get = _operation(document, "crosstalk.customers.v1.CustomersService/GetCustomer")
    assert [(p["name"], p["in"]) for p in get["parameters"]] == [("customer_id", "path")]
    assert "requestBody" not in get


def test_bodies_follow_the_rule(document: dict[str, Any]) -> None:
    create = _operation(document, "crosstalk.customers.v1.CustomersService/CreateCustomer")
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/crosstalk.customers.v1.Customer"}
    update = _operation(document, "crosstalk.customers.v1.CustomersService/UpdateCustomer")
    assert "customer_id" in {p["name"] for p in update["parameters"]}
    ok = update["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/crosstalk.customers.v1.Customer"}


def test_raw_bodies_are_any_content_type(document: dict[str, Any]) -> None:
    raw = [
        op
        for item in document["paths"].values()
        for op in item.values()
        if "*/*" in op.get("requestBody", {}).get("content", {})
    ]
    assert raw, "messaging's webhook and e-mail routes take a google.api.HttpBody"


def test_field_behaviours_types_and_errors(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    customer = schemas["crosstalk.customers.v1.Customer"]["properties"]
    assert customer["createTime"]["format"] == "date-time"
    assert customer["createTime"]["readOnly"] is True
    assert customer["score"]["type"] == "string"  # int64 in proto3 JSON
    assert customer["displayName"]["type"] == "string"
    assert any("required" in s for s in schemas.values() if s.get("type") == "object")
    enums = [s for s in schemas.values() if "enum" in s]
    assert enums
    assert all(s["type"] == "string" for s in enums)
    # INPUT_ONLY comes back as its zero value (always printed): not writeOnly.
    secret = schemas["crosstalk.rules.v1.RuleSettings"]["properties"]["webhookSecret"]
    assert "writeOnly" not in secret
    assert "Input only" in secret["description"]
    status = schemas["google.rpc.Status"]
    assert status["required"] == ["code", "message"]
    assert status["properties"]["details"]["items"]["required"] == ["@type"]
    for item in document["paths"].values():
        for op in item.values():
            assert op["responses"]["default"] == {"$ref": "#/components/responses/Error"}


def test_public_methods_need_no_token(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearerAuth": []}]
    login = _operation(document, "crosstalk.identity.v1.IdentityService/Login")
    assert login["security"] == []
    get = _operation(document, "crosstalk.customers.v1.CustomersService/GetCustomer")
    assert "security" not in get


def test_the_cli_writes_it(descriptor_path: Path, gateway_yaml: Path, tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    code = main(
        ["--config", str(gateway_yaml), "--descriptor", str(descriptor_path), "--out", str(out)]
    )
    assert code == 0
    validate(json.loads(out.read_text()))


def test_the_route_is_public_and_cacheable(descriptor_path: Path, gateway_yaml: Path) -> None:
    config = build_envoy_config(descriptor_path, load_settings(gateway_yaml))
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    route_config = hcm["typed_config"]["route_config"]
    route = route_config["virtual_hosts"][0]["routes"][0]
    assert route["match"] == {"path": OPENAPI_PATH}
    size = len(route["direct_response"]["body"]["inline_string"].encode())
    assert route_config["max_direct_response_body_size_bytes"] >= size
    headers = {h["header"]["key"]: h["header"]["value"] for h in route["response_headers_to_add"]}
    assert headers["cache-control"].startswith("public")
    jwt = next(
        f["typed_config"]
        for f in hcm["typed_config"]["http_filters"]
        if f["name"] == "envoy.filters.http.jwt_authn"
    )
    assert jwt["rules"][0] == {"match": {"path": OPENAPI_PATH}}


def test_envoy_serves_it_without_a_token(
    descriptor_path: Path, gateway_yaml: Path, tmp_path: Path
) -> None:
    listen_port, admin_port = free_port(), free_port()
    base = load_settings(gateway_yaml)
    settings = load_settings(
        gateway_yaml,
        overrides={
            "listen_port": listen_port,
            "admin_port": admin_port,
            # Nothing listens there: Envoy answers /openapi.json itself.
            "upstreams": {name: ("127.0.0.1", free_port()) for name in base.upstreams},
            "otlp_endpoint": None,
        },
    )
    config = write_envoy_config(descriptor_path, settings, tmp_path / "envoy.yaml")
    with (
        envoy_running(config, admin_port, tmp_path / "envoy.log"),
        httpx.Client(base_url=f"http://127.0.0.1:{listen_port}", timeout=10.0) as client,
    ):
        response = client.get(OPENAPI_PATH)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.headers["etag"]
        served = response.json()
        assert served == build_openapi(
            read_descriptor_set(descriptor_path), settings.auth.public_methods
        )
        validate(served)
        # Everything else still needs a token.
        assert client.get("/v1/customers").status_code == 401
