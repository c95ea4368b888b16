"""Semantic checks on the generated Envoy config (no Envoy needed)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api import annotations_pb2  # type: ignore[import-untyped, unused-ignore]
from google.protobuf import descriptor_pb2

from crosstalk_gateway.descriptors import api_services, read_descriptor_set
from crosstalk_gateway.generate import (
    FILTER_ORDER,
    JWKS_CLUSTER,
    OTEL_CLUSTER,
    build_envoy_config,
    main,
    path_template_regex,
    write_envoy_config,
)
from crosstalk_gateway.settings import GatewayConfigError, GatewaySettings, load_settings

CORS = "envoy.filters.http.cors"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"


def hcm(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (network_filter,) = chain["filters"]
    typed: dict[str, Any] = network_filter["typed_config"]
    return typed


def filter_config(config: dict[str, Any], name: str) -> dict[str, Any]:
    for http_filter in hcm(config)["http_filters"]:
        if http_filter["name"] == name:
            typed: dict[str, Any] = http_filter["typed_config"]
            return typed
    raise AssertionError(f"no {name} filter")


def virtual_host(config: dict[str, Any]) -> dict[str, Any]:
    (vhost,) = hcm(config)["route_config"]["virtual_hosts"]
    return vhost  # type: ignore[no-any-return]


def routes_by_path(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["match"]["path"]: r for r in virtual_host(config)["routes"] if "path" in r["match"]}


def clusters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


@pytest.fixture(scope="module")
def settings(gateway_yaml: Path) -> GatewaySettings:
    return load_settings(gateway_yaml)


@pytest.fixture(scope="module")
def config(descriptor_path: Path, settings: GatewaySettings) -> dict[str, Any]:
    return build_envoy_config(descriptor_path, settings)


def test_every_service_is_transcoded_clustered_and_routed(
    descriptor_path: Path, settings: GatewaySettings, config: dict[str, Any]
) -> None:
    services = api_services(read_descriptor_set(descriptor_path))
    assert services, "the descriptor set should hold crosstalk.* services"
    transcoder = filter_config(config, TRANSCODER)
    assert sorted(transcoder["services"]) == sorted(s.full_name for s in services)
    assert transcoder["proto_descriptor"] == str(descriptor_path.resolve())
    assert Path(transcoder["proto_descriptor"]).is_absolute()
    routes = routes_by_path(config)
    rest_regexes = {
        r["match"]["safe_regex"]["regex"]
        for r in virtual_host(config)["routes"]
        if "safe_regex" in r["match"]
    }
    cluster_map = clusters(config)
    owners = {full: short for short, names in settings.grpc_services.items() for full in names}
    for service in services:
        owner = owners.get(service.full_name, service.package.split(".")[1])
        assert owner in cluster_map, f"{service.full_name} has no cluster"
        for method in service.methods:
            route = routes.get(f"/{service.full_name}/{method.name}")
            assert route is not None, f"{service.full_name}/{method.name} has no route"
            assert route["route"]["cluster"] == owner
            assert route["route"]["timeout"]
            for binding in method.http:
                assert path_template_regex(binding.path) in rest_regexes, binding.path


def test_transcoder_options(config: dict[str, Any]) -> None:
    transcoder = filter_config(config, TRANSCODER)
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["print_options"]["always_print_primitive_fields"] is True
    assert transcoder["print_options"]["preserve_proto_field_names"] is False
    assert transcoder["request_validation_options"] == {
        "reject_unknown_method": True,
        "reject_unknown_query_parameters": True,
    }


def test_retries_only_for_idempotent_methods(
    descriptor_path: Path, settings: GatewaySettings, config: dict[str, Any]
) -> None:
    routes = routes_by_path(config)
    verbs_seen = set()
    for service in api_services(read_descriptor_set(descriptor_path)):
        for method in service.methods:
            route = routes[method.grpc_path]["route"]
            verbs_seen.add(method.http_verb)
            if method.http_verb == "GET" or method.key in settings.retries.idempotent_methods:
                policy = route["retry_policy"]
                assert policy["retry_on"] == "unavailable"
                assert policy["num_retries"] == 2
                assert policy["per_try_timeout"]
            else:
                assert "retry_policy" not in route, f"{method.key} ({method.http_verb}) retries"
    assert {"GET", "POST"} <= verbs_seen


def test_retries_cannot_amplify_an_overload(config: dict[str, Any]) -> None:
    """Retries happen only on UNAVAILABLE (never on RESOURCE_EXHAUSTED, a service's
    "come back later"), and every service cluster caps them with a retry budget."""
    services = [c for c in config["static_resources"]["clusters"] if "health_checks" in c]
    assert services
    for cluster in services:
        (threshold,) = cluster["circuit_breakers"]["thresholds"]
        assert threshold["retry_budget"] == {
            "budget_percent": {"value": 20.0},
            "min_retry_concurrency": 3,
        }, cluster["name"]
    for route in routes_by_path(config).values():
        policy = route.get("route", {}).get("retry_policy")
        if policy is not None:
            assert "resource-exhausted" not in policy["retry_on"]


def test_timeouts_default_and_per_method(config: dict[str, Any], settings: GatewaySettings) -> None:
    routes = routes_by_path(config)
    assert routes["/crosstalk.reporting.v1.ReportingService/GetDashboard"]["route"]["timeout"] == (
        "5s"
    )
    assert routes["/crosstalk.reporting.v1.ReportingService/QueryMetric"]["route"]["timeout"] == (
        "15s"
    )


@pytest.mark.parametrize(
    ("template", "regex"),
    [
        ("/v1/dashboard", "/v1/dashboard"),
        ("/v1/metrics:query", "/v1/metrics:query"),
        ("/v1/{name=customers/*}", "/v1/customers/[^/]+"),
        ("/v1/{parent=members/*}/sessions", "/v1/members/[^/]+/sessions"),
        ("/v1/{name=members/*/sessions/*}:revoke", "/v1/members/[^/]+/sessions/[^/]+:revoke"),
        ("/v1/{name}", "/v1/[^/]+"),
        ("/v1/{name=files/**}", "/v1/files/.*"),
        ("/v1/a.b", "/v1/a\\.b"),
    ],
)
def test_path_template_regex(template: str, regex: str) -> None:
    assert path_template_regex(template) == regex


@pytest.mark.parametrize("template", ["v1/x", "/v1/{name", "/v1/a*b"])
def test_bad_path_templates(template: str) -> None:
    with pytest.raises(GatewayConfigError):
        path_template_regex(template)


def test_catch_all_is_last_and_404(config: dict[str, Any]) -> None:
    last = virtual_host(config)["routes"][-1]
    assert last["match"] == {"prefix": "/"}
    assert last["direct_response"]["status"] == 404


def test_filter_order_router_last(config: dict[str, Any]) -> None:
    names = [f["name"] for f in hcm(config)["http_filters"]]
    assert names == [
        "envoy.filters.http.health_check",
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.cors",
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.buffer",
        "envoy.filters.http.lua",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]
    assert tuple(names) == FILTER_ORDER


def test_cors_policy_via_typed_per_filter_config(config: dict[str, Any]) -> None:
    vhost = virtual_host(config)
    assert "cors" not in vhost, "VirtualHost.cors is deprecated"
    policy = vhost["typed_per_filter_config"][CORS]
    assert policy["@type"].endswith("envoy.extensions.filters.http.cors.v3.CorsPolicy")
    assert {"exact": "http://localhost:3000"} in policy["allow_origin_string_match"]
    exposed = policy["expose_headers"].split(",")
    assert {"grpc-status", "grpc-message", "grpc-status-details-bin"} <= set(exposed)
    allowed = policy["allow_headers"].split(",")
    assert {
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "content-type",
        "authorization",
    } <= set(allowed)
    # identity headers come from verified claims, never from a browser
    assert "x-crosstalk-tenant-id" not in allowed


def test_admin_is_loopback(config: dict[str, Any]) -> None:
    address = config["admin"]["address"]["socket_address"]["address"]
    assert ipaddress.ip_address(address).is_loopback


def test_hcm_hardening(config: dict[str, Any]) -> None:
    manager = hcm(config)
    assert manager["codec_type"] == "AUTO"
    for key in ("use_remote_address", "normalize_path", "merge_slashes", "generate_request_id"):
        assert manager[key] is True
    assert manager["path_with_escaped_slashes_action"] == "UNESCAPE_AND_REDIRECT"
    assert manager["stream_idle_timeout"]
    assert manager["request_timeout"]
    (log,) = manager["access_log"]
    fields = log["typed_config"]["log_format"]["json_format"]
    for key in ("method", "path", "status", "grpc_status", "duration_ms", "trace_id", "request_id"):
        assert key in fields


def test_header_mutation_strips_the_configured_headers(
    descriptor_path: Path, settings: GatewaySettings, config: dict[str, Any]
) -> None:
    mutation = filter_config(config, "envoy.filters.http.header_mutation")
    assert mutation["mutations"]["request_mutations"] == [
        {"remove": "x-crosstalk-tenant-id"},
        {"remove": "x-crosstalk-member-id"},
        {"remove": "x-crosstalk-client-ip"},
    ]
    stripping = GatewaySettings(
        **{
            **settings.__dict__,
            "strip_request_headers": (
                "x-crosstalk-tenant-id",
                "x-crosstalk-member-id",
                "x-crosstalk-client-ip",
                "x-crosstalk-roles",
            ),
        }
    )
    mutation = filter_config(
        build_envoy_config(descriptor_path, stripping), "envoy.filters.http.header_mutation"
    )
    assert mutation["mutations"]["request_mutations"] == [
        {"remove": "x-crosstalk-tenant-id"},
        {"remove": "x-crosstalk-member-id"},
        {"remove": "x-crosstalk-client-ip"},
        {"remove": "x-crosstalk-roles"},
    ]


def test_clusters_are_http2_health_checked_with_breakers(config: dict[str, Any]) -> None:
    for name, cluster in clusters(config).items():
        if name == JWKS_CLUSTER:
            continue  # plain HTTP/1.1 to identity's JWKS endpoint
        options = cluster["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ]
        assert "http2_protocol_options" in options["explicit_http_config"], name
        assert cluster["type"] in {"STATIC", "STRICT_DNS"}
        assert cluster["connect_timeout"]
        (check,) = cluster["health_checks"]
        assert "grpc_health_check" in check
        assert cluster["circuit_breakers"]["thresholds"]
    assert OTEL_CLUSTER not in clusters(config)
    assert "tracing" not in hcm(config)


def test_tracing_when_an_otlp_endpoint_is_set(descriptor_path: Path, gateway_yaml: Path) -> None:
    settings = load_settings(gateway_yaml, overrides={"otlp_endpoint": ("127.0.0.1", 4317)})
    config = build_envoy_config(descriptor_path, settings)
    provider = hcm(config)["tracing"]["provider"]
    assert provider["name"] == "envoy.tracers.opentelemetry"
    typed = provider["typed_config"]
    assert typed["grpc_service"]["envoy_grpc"]["cluster_name"] == OTEL_CLUSTER
    assert typed["service_name"] == "gateway"
    collector = clusters(config)[OTEL_CLUSTER]
    assert collector["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
        "socket_address"
    ] == {"address": "127.0.0.1", "port_value": 4317}
    assert (
        "explicit_http_config"
        in collector["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ]
    )


def test_dns_names_use_strict_dns(descriptor_path: Path, gateway_yaml: Path) -> None:
    settings = load_settings(
        gateway_yaml, overrides={"upstreams": {"reporting": "reporting.crosstalk.svc:50056"}}
    )
    cluster = clusters(build_envoy_config(descriptor_path, settings))["reporting"]
    assert cluster["type"] == "STRICT_DNS"
    assert clusters(build_envoy_config(descriptor_path, settings))["identity"]["type"] == "STATIC"


def test_write_and_cli(descriptor_path: Path, gateway_yaml: Path, tmp_path: Path) -> None:
    settings = load_settings(gateway_yaml)
    out = write_envoy_config(descriptor_path, settings, tmp_path / "a" / "envoy.yaml")
    assert yaml.safe_load(out.read_text()) == build_envoy_config(descriptor_path, settings)

    cli_out = tmp_path / "cli.yaml"
    rc = main(
        [
            "--config",
            str(gateway_yaml),
            "--descriptor",
            str(descriptor_path),
            "--out",
            str(cli_out),
            "--listen-port",
            "18080",
            "--admin-port",
            "19901",
            "--upstream",
            "reporting=127.0.0.1:6000",
            "--otlp",
            "127.0.0.1:4317",
        ]
    )
    assert rc == 0
    generated = yaml.safe_load(cli_out.read_text())
    assert generated["admin"]["address"]["socket_address"]["port_value"] == 19901
    listener = generated["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"]["port_value"] == 18080
    reporting = clusters(generated)["reporting"]["load_assignment"]["endpoints"][0]
    assert reporting["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 6000,
    }
    assert OTEL_CLUSTER in clusters(generated)


def test_cli_reports_errors(descriptor_path: Path, gateway_yaml: Path, tmp_path: Path) -> None:
    rc = main(
        [
            "--config",
            str(gateway_yaml),
            "--descriptor",
            str(descriptor_path),
            "--out",
            str(tmp_path / "x.yaml"),
            "--upstream",
            "nosuchservice=127.0.0.1:1",
        ]
    )
    assert rc == 1
    assert not (tmp_path / "x.yaml").exists()


# -- a small synthetic descriptor set, to pin down how services are assigned -------------


def synthetic_descriptor(tmp_path: Path, services: dict[str, dict[str, str]]) -> Path:
    """services: "package.Service" -> {method name: http verb}."""
    fds = descriptor_pb2.FileDescriptorSet()
    empty = fds.file.add(name="empty.proto", package="x.empty")
    empty.message_type.add(name="Empty")
    for index, (full_name, methods) in enumerate(services.items()):
        package, _, name = full_name.rpartition(".")
        file = fds.file.add(name=f"f{index}.proto", package=package, dependency=["empty.proto"])
        service = file.service.add(name=name)
        for method_name, verb in methods.items():
            method = service.method.add(
                name=method_name, input_type=".x.empty.Empty", output_type=".x.empty.Empty"
            )
            setattr(method.options.Extensions[annotations_pb2.http], verb, f"/v1/{method_name}")
    path = tmp_path / "synthetic.binpb"
    path.write_bytes(fds.SerializeToString())
    return path


def test_unlisted_service_in_a_known_package_goes_to_that_service(
    tmp_path: Path, gateway_yaml: Path
) -> None:
    descriptor = synthetic_descriptor(
        tmp_path,
        {
            "crosstalk.reporting.v1.ReportingService": {
                "GetDashboard": "get",
                "QueryMetric": "post",
            },
            "crosstalk.reporting.v1.ExportService": {"GetExport": "get", "DeleteExport": "delete"},
            "crosstalk.identity.v1.IdentityService": {
                "Login": "post",
                "SignUp": "post",
                "RefreshToken": "post",
                "GetJwks": "get",
                "ExchangeApiKey": "post",
            },
            "crosstalk.customers.v1.CustomersService": {"GetCustomer": "get"},
            "crosstalk.rules.v1.RulesService": {"GetRule": "get"},
            "crosstalk.translation.v1.TranslationService": {
                "DetectLanguage": "post",
                "TranslateText": "post",
            },
            # gateway.yaml names these (public routes, timeouts, buckets).
            "crosstalk.messaging.v1.MessagingService": {
                "IngestMessage": "post",
                "SubmitCsat": "post",
                "GetCsatSurveyForm": "get",
                "ReceiveWebhook": "post",
                "ReceiveEmail": "post",
            },
        },
    )
    config = build_envoy_config(descriptor, load_settings(gateway_yaml))
    routes = routes_by_path(config)
    assert routes["/crosstalk.reporting.v1.ExportService/GetExport"]["route"]["cluster"] == (
        "reporting"
    )
    assert "retry_policy" in routes["/crosstalk.reporting.v1.ExportService/GetExport"]["route"]
    assert (
        "retry_policy" not in routes["/crosstalk.reporting.v1.ExportService/DeleteExport"]["route"]
    )
    # Listed in gateway.yaml as idempotent although its rule is POST.
    assert (
        "retry_policy"
        in routes["/crosstalk.translation.v1.TranslationService/DetectLanguage"]["route"]
    )


def test_unowned_or_missing_services_are_errors(tmp_path: Path, gateway_yaml: Path) -> None:
    settings = load_settings(gateway_yaml)
    descriptor = synthetic_descriptor(
        tmp_path, {"crosstalk.billing.v1.BillingService": {"GetInvoice": "get"}}
    )
    with pytest.raises(GatewayConfigError) as excinfo:
        build_envoy_config(descriptor, settings)
    message = str(excinfo.value)
    assert "crosstalk.billing.v1.BillingService" in message
    assert "crosstalk.identity.v1.IdentityService" in message  # listed, but not in the set


def test_a_plus_in_a_query_string_is_a_space(config: dict[str, Any]) -> None:
    transcoder = filter_config(config, "envoy.filters.http.grpc_json_transcoder")
    assert transcoder["query_param_unescape_plus"] is True
