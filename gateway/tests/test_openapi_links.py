"""The lifecycle links in the OpenAPI document (crosstalk_gateway.openapi_links)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.core.errors import InvalidStateMachine
from schemathesis.specs.openapi.expressions import parser

from crosstalk_gateway.descriptors import read_descriptor_set
from crosstalk_gateway.openapi import build_openapi
from crosstalk_gateway.openapi_links import REGEX_EXTRACTOR, name_regex
from crosstalk_gateway.settings import load_settings


@pytest.fixture(scope="module")
def document(descriptor_path: Path, gateway_yaml: Path) -> dict[str, Any]:
    settings = load_settings(gateway_yaml)
    return build_openapi(read_descriptor_set(descriptor_path), settings.auth.public_methods)


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for item in document["paths"].values() for op in item.values()}


def _links(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    links: dict[str, Any] = _operations(document)[operation_id]["responses"]["200"].get("links", {})
    return links


def _all_links(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (source, link)
        for source, op in _operations(document).items()
        for link in op["responses"]["200"].get("links", {}).values()
    ]


@pytest.mark.parametrize(
    ("service", "resource"),
    [
        ("CustomersService", "Customer"),
        ("CustomersService", "Segment"),
        ("CustomersService", "Tag"),
        ("RulesService", "Rule"),
        ("MessagingService", "ReplyTemplate"),
        ("ReportingService", "ScheduledReport"),
        ("IdentityService", "Role"),
        ("TranslationService", "GlossaryTerm"),
    ],
)
def test_each_lifecycle_is_linked(document: dict[str, Any], service: str, resource: str) -> None:
    """create -> get/update/delete; get -> update/delete; update -> get/delete; delete -> get."""
    created = _links(document, f"{service}_Create{resource}")
    assert {f"Get{resource}", f"Update{resource}", f"Delete{resource}"} <= set(created)
    assert set(_links(document, f"{service}_Get{resource}")) == {
        f"Update{resource}",
        f"Delete{resource}",
    }
    assert set(_links(document, f"{service}_Update{resource}")) == {
        f"Get{resource}",
        f"Delete{resource}",
    }
    assert set(_links(document, f"{service}_Delete{resource}")) == {f"Get{resource}"}


def test_a_create_passes_the_id_cut_from_the_created_name(document: dict[str, Any]) -> None:
    link = _links(document, "CustomersService_CreateCustomer")["GetCustomer"]
    assert link["operationId"] == "CustomersService_GetCustomer"
    assert link["parameters"] == {
        "path.customer_id": "$response.body#/name#regex:^customers/([^/]+)$"
    }
    # The update and delete of the same customer take the id from the request.
    follow = _links(document, "CustomersService_GetCustomer")["UpdateCustomer"]
    assert follow["parameters"] == {"path.customer_id": "$request.path.customer_id"}


def test_nested_and_wrapped_resources(document: dict[str, Any]) -> None:
    """A note is a message of its conversation; an API key comes inside its response."""
    note = _links(document, "MessagingService_CreateNote")["GetMessage"]["parameters"]
    name = "conversations/c-1/messages/m-2"
    ids = {param: _extract(expression, name) for param, expression in note.items()}
    assert ids == {"path.conversation_id": "c-1", "path.message_id": "m-2"}
    key = _links(document, "IdentityService_CreateApiKey")["GetApiKey"]["parameters"]
    assert key == {"path.api_key_id": "$response.body#/apiKey/name#regex:^apiKeys/([^/]+)$"}


def test_singletons_link_get_and_update(document: dict[str, Any]) -> None:
    assert set(_links(document, "ReportingService_GetDashboard")) == {"UpdateDashboard"}
    assert set(_links(document, "ReportingService_UpdateDashboard")) == {"GetDashboard"}
    settings = _links(document, "IdentityService_GetTenantSettings")["UpdateTenantSettings"]
    assert settings["parameters"] == {"path.tenant_id": "$request.path.tenant_id"}


def test_custom_methods_are_reached_from_the_create_only(document: dict[str, Any]) -> None:
    created = _links(document, "RulesService_CreateRule")
    assert {"EnableRule", "DisableRule", "ListRuleRuns", "RollbackRule"} <= set(created)
    assert "ListOrders" in _links(document, "CustomersService_CreateCustomer")
    assert _links(document, "RulesService_EnableRule") == {}
    assert _links(document, "CustomersService_ListOrders") == {}


def test_every_link_names_a_real_operation_and_its_path_parameters(
    document: dict[str, Any],
) -> None:
    operations = _operations(document)
    found = _all_links(document)
    assert len(found) > 200
    for source, link in found:
        target = operations[link["operationId"]]
        wanted = {f"path.{p['name']}" for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link.get("parameters", {})) == wanted, (source, link)
        for expression in link.get("parameters", {}).values():
            parser.parse(expression)  # schemathesis's runtime-expression parser
            if REGEX_EXTRACTOR in expression:
                assert re.compile(expression.split(REGEX_EXTRACTOR, 1)[1]).groups == 1


def test_the_document_with_links_validates(document: dict[str, Any]) -> None:
    validate(document)
    # schemathesis resolves every link to its target operation and parameters.
    schemathesis.openapi.from_dict(copy.deepcopy(document)).as_state_machine()


@pytest.mark.parametrize(
    ("path", "verb", "name", "change"),
    [
        ("/v1/customers", "post", "GetCustomer", {"operationId": "CustomersService_GetNothing"}),
        (
            "/v1/customers/{customer_id}",
            "get",
            "UpdateCustomer",
            {"parameters": {"path.customer_id": "$request.path.no_such_id"}},
        ),
    ],
)
def test_schemathesis_refuses_a_broken_link(
    document: dict[str, Any], path: str, verb: str, name: str, change: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(document))
    broken["paths"][path][verb]["responses"]["200"]["links"][name].update(change)
    with pytest.raises(InvalidStateMachine):
        schemathesis.openapi.from_dict(broken).as_state_machine()


def test_name_regex_takes_one_segment() -> None:
    assert name_regex("customers/*", 0) == "^customers/([^/]+)$"
    pattern = re.compile(name_regex("rules/*/runs/*", 1))
    match = pattern.match("rules/r1/runs/x9")
    assert match is not None
    assert match.group(1) == "x9"
    assert pattern.match("rules/r1/runs/x9/extra") is None


def _extract(expression: str, name: str) -> str:
    match = re.match(expression.split(REGEX_EXTRACTOR, 1)[1], name)
    assert match is not None, (expression, name)
    return match.group(1)
