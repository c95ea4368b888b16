"""The edge hardening in the generated config (issue 12): admin on loopback, the trusted
client address, an access log without query strings, per-client rate limits, JSON
local replies and request size limits. No Envoy needed; the e2e suite runs them."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from crosstalk_gateway.body_fields import LUA_FILTER, body_schemas, path_name
from crosstalk_gateway.descriptors import read_descriptor_set
from crosstalk_gateway.edge_policy import GRPC_CODE_OF_STATUS
from crosstalk_gateway.generate import build_envoy_config
from crosstalk_gateway.settings import GatewayConfigError, GatewaySettings, load_settings

SIGN_UP = "crosstalk.identity.v1.IdentityService/SignUp"
LIMITER = "envoy.filters.http.local_ratelimit"


def _hcm(config: dict[str, Any]) -> dict[str, Any]:
    typed: dict[str, Any] = config["static_resources"]["listeners"][0]["filter_chains"][0][
        "filters"
    ][0]["typed_config"]
    return typed


def _filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [f["typed_config"] for f in _hcm(config)["http_filters"] if f["name"] == name]
    return found  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def settings(gateway_yaml: Path) -> GatewaySettings:
    return load_settings(gateway_yaml)


@pytest.fixture(scope="module")
def config(descriptor_path: Path, settings: GatewaySettings) -> dict[str, Any]:
    return build_envoy_config(descriptor_path, settings)


def test_admin_is_bound_to_127_0_0_1(config: dict[str, Any], tmp_path: Path) -> None:
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    exposed = tmp_path / "gateway.yaml"
    exposed.write_text("admin: {host: 0.0.0.0, port: 9901}\n")
    with pytest.raises(GatewayConfigError, match="loopback"):
        load_settings(exposed)


def test_probes_have_a_ready_route_on_the_listener(config: dict[str, Any]) -> None:
    health = _filter(config, "envoy.filters.http.health_check")
    assert health["pass_through_mode"] is False
    assert health["headers"] == [{"name": ":path", "string_match": {"exact": "/ready"}}]


def test_the_client_address_is_envoys_not_the_clients(
    config: dict[str, Any], descriptor_path: Path, settings: GatewaySettings
) -> None:
    manager = _hcm(config)
    assert manager["use_remote_address"] is True
    assert manager["xff_num_trusted_hops"] == 0
    (vhost,) = manager["route_config"]["virtual_hosts"]
    assert vhost["request_headers_to_add"] == [
        {
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            "header": {
                "key": "x-crosstalk-client-ip",
                "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
            },
        }
    ]
    assert "x-crosstalk-client-ip" in settings.strip_request_headers
    behind_two = dataclasses.replace(
        settings,
        client_address=dataclasses.replace(settings.client_address, xff_num_trusted_hops=2),
    )
    assert _hcm(build_envoy_config(descriptor_path, behind_two))["xff_num_trusted_hops"] == 2


def test_the_client_address_header_must_be_stripped(settings: GatewaySettings) -> None:
    with pytest.raises(GatewayConfigError, match="strip_request_headers"):
        dataclasses.replace(
            settings,
            strip_request_headers=("x-crosstalk-tenant-id", "x-crosstalk-member-id"),
        )


def test_the_access_log_never_records_a_query_string(config: dict[str, Any]) -> None:
    (log,) = _hcm(config)["access_log"]
    log_format = log["typed_config"]["log_format"]
    fields = log_format["json_format"]
    for key in ("path", "grpc_method"):
        assert fields[key].startswith("%REQ_WITHOUT_QUERY("), fields[key]
    paths = [value for value in fields.values() if "PATH" in value]
    assert paths
    assert all(value.startswith("%REQ_WITHOUT_QUERY(") for value in paths), paths
    assert [f["name"] for f in log_format["formatters"]] == ["envoy.formatter.req_without_query"]


def test_public_methods_have_per_client_buckets(
    config: dict[str, Any], settings: GatewaySettings
) -> None:
    limits = settings.rate_limit
    # gateway.yaml: sign-up 5 at once per client, then one every 12 s.
    assert (
        limits.per_client_methods[SIGN_UP].max_tokens,
        limits.per_client_methods[SIGN_UP].fill_interval.total_seconds(),
    ) == (5, 12)
    assert set(limits.per_client_methods) == {
        SIGN_UP,
        "crosstalk.identity.v1.IdentityService/Login",
        "crosstalk.identity.v1.IdentityService/RefreshToken",
        "crosstalk.identity.v1.IdentityService/ExchangeApiKey",
        "crosstalk.messaging.v1.MessagingService/SubmitCsat",
        "crosstalk.messaging.v1.MessagingService/GetCsatSurveyForm",
    }
    limiter = _filter(config, LIMITER)
    entries = [d["entries"] for d in limiter["descriptors"]]
    # Every bucket is per client: the client address entry is a wildcard.
    assert [{"key": "remote_address", "value": ""}] in entries
    assert [
        {"key": "method", "value": SIGN_UP},
        {"key": "remote_address", "value": ""},
    ] in entries
    assert limiter["max_dynamic_descriptors"] == limits.max_clients
    actions = limiter["rate_limits"]
    assert {"actions": [{"remote_address": {}}]} in actions
    (sign_up,) = [
        a["actions"]
        for a in actions
        if a["actions"][0].get("header_value_match", {}).get("descriptor_value") == SIGN_UP
    ]
    regex = sign_up[0]["header_value_match"]["headers"][0]["string_match"]["safe_regex"]["regex"]
    for path in (
        "/v1/tenants:signUp",
        "/v1/tenants:signUp?x=1",
        "/crosstalk.identity.v1.IdentityService/SignUp",
    ):
        assert re.fullmatch(regex, path), path
    assert not re.fullmatch(regex, "/v1/auth:login")
    assert sign_up[1] == {"remote_address": {}}
    assert limiter["token_bucket"]["max_tokens"] == limits.total.max_tokens


def test_an_unknown_limited_method_is_an_error(
    descriptor_path: Path, settings: GatewaySettings
) -> None:
    wrong = dataclasses.replace(
        settings,
        rate_limit=dataclasses.replace(
            settings.rate_limit,
            per_client_methods={
                "crosstalk.identity.v1.IdentityService/NoSuch": settings.rate_limit.per_client
            },
        ),
    )
    with pytest.raises(GatewayConfigError, match="NoSuch"):
        build_envoy_config(descriptor_path, wrong)


def test_rate_limit_section_overrides(gateway_yaml: Path) -> None:
    settings = load_settings(
        gateway_yaml,
        overrides={"rate_limit": {"per_client": {"max_tokens": 3, "fill_interval": "1h"}}},
    )
    assert settings.rate_limit.per_client.max_tokens == 3
    assert settings.rate_limit.per_client_methods == {}
    with pytest.raises(GatewayConfigError):
        load_settings(gateway_yaml, overrides={"rate_limit": {"per_client": {"max": 3}}})


def test_every_local_reply_is_a_json_status(config: dict[str, Any]) -> None:
    mappers = _hcm(config)["local_reply_config"]["mappers"]
    first = mappers[0]
    assert "body_format_override" not in first  # gRPC callers keep gRPC's own answer
    assert "application/grpc" in str(first["filter"])
    # Second: the body checker's refusal, a BadRequest naming the field it put in
    # dynamic metadata (and only then: the mapper must not match a reply without it).
    unknown_field = mappers[1]
    matcher = unknown_field["filter"]["metadata_filter"]
    assert matcher["match_if_key_not_found"] is False
    template = unknown_field["body_format_override"]["text_format_source"]["inline_string"]
    filled = (
        template.replace("%LOCAL_REPLY_BODY%", "Unknown field a.b")
        .replace("%DYNAMIC_METADATA(crosstalk.gateway.reply:field)%", "a.b")
        .replace("%DYNAMIC_METADATA(crosstalk.gateway.reply:description)%", "is not a field")
    )
    status = json.loads(filled)
    assert status["code"] == 3
    assert status["details"][0]["fieldViolations"][0] == {
        "field": "a.b",
        "description": "is not a field",
    }
    bodies = {}
    for mapper in mappers[2:]:
        body = mapper["body_format_override"]
        assert body["content_type"] == "application/json"
        assert body["json_format"]["message"] == "%LOCAL_REPLY_BODY%"
        status = _status_of(mapper)
        bodies[status] = body["json_format"]["code"]
        if status == 429:
            (header,) = mapper["headers_to_add"]
            assert header["header"]["key"] == "retry-after"
            assert int(header["header"]["value"]) >= 1
    assert (bodies[400], bodies[401], bodies[429]) == (3, 16, 8)
    # Too large is the caller's mistake, never "try again later".
    assert (bodies[413], bodies[431]) == (3, 3)
    assert set(GRPC_CODE_OF_STATUS) <= set(bodies)
    assert bodies[None] == 2  # anything else: UNKNOWN


def _status_of(mapper: dict[str, Any]) -> int | None:
    filters = mapper["filter"].get("and_filter", {}).get("filters", [mapper["filter"]])
    for item in filters:
        comparison = item.get("status_code_filter", {}).get("comparison")
        if comparison and comparison["op"] == "EQ":
            return int(comparison["value"]["default_value"])
    return None


def test_oversized_requests_are_refused_at_the_edge(config: dict[str, Any]) -> None:
    assert _hcm(config)["max_request_headers_kb"] == 8
    assert _filter(config, "envoy.filters.http.buffer")["max_request_bytes"] == 16 * 1024 * 1024


def test_body_schemas_know_both_spellings_and_nested_messages(descriptor_path: Path) -> None:
    schemas = body_schemas(read_descriptor_set(descriptor_path))
    customer = schemas.messages["crosstalk.customers.v1.Customer"]
    assert customer["displayName"] == customer["display_name"] == ""
    assert customer["identities"] == "crosstalk.common.v1.ChannelIdentity"
    assert "bogusField" not in customer


def test_rest_routes_say_which_message_their_body_is(config: dict[str, Any]) -> None:
    (vhost,) = _hcm(config)["route_config"]["virtual_hosts"]
    metadata = {
        route["name"]: route.get("metadata", {}).get("filter_metadata", {}).get(LUA_FILTER)
        for route in vhost["routes"]
    }
    assert metadata["rest /v1/customers"]["POST"] == "crosstalk.customers.v1.Customer"
    # CreateMember's body is the whole request: the password travels in it.
    assert metadata["rest /v1/members"]["POST"] == "crosstalk.identity.v1.CreateMemberRequest"
    assert "GET" not in metadata["rest /v1/members"]
    # An Update's path is its body's name: the filter compares the two.
    member = metadata["rest /v1/{name=members/*}"]
    assert member["PATCH name"] == "member.name"
    assert member["PATCH prefix"] == "/v1/"
    assert "PATCH name" not in metadata["rest /v1/customers"]
    lua = _filter(config, LUA_FILTER)["default_source_code"]["inline_string"]
    assert '["crosstalk.customers.v1.Customer"] = {' in lua
    assert "function envoy_on_request" in lua


@pytest.mark.parametrize(
    ("template", "body", "expected"),
    [
        ("/v1/{member.name=members/*}", "member", [("PATCH name", "member.name")]),
        ("/v1/{dashboard.name=dashboard}", "dashboard", [("PATCH name", "dashboard.name")]),
        ("/v1/{name=members/*}", "*", [("PATCH name", "name")]),
        ("/v1/{member.name=members/*}:move", "member", []),  # more than the name
        ("/v1/{parent=tenants/*}/members", "member", []),
        ("/v1/{member.id=members/*}", "member", []),
        ("/v1/members", "member", []),
    ],
)
def test_path_name_only_where_the_path_is_the_bodys_name(
    template: str, body: str, expected: list[tuple[str, str]]
) -> None:
    entries = path_name("PATCH", template, body)
    assert entries == ([*expected, ("PATCH prefix", "/v1/")] if expected else [])
