"""Issue 12, items 6, 17 and 24 through the gateway: bounded requests and lists,
``orderBy`` refused when a List cannot sort that way, page tokens bound to
their caller."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
MAX_RULES_PER_PAGE = 50


def violations(response: httpx.Response) -> dict[str, str]:
    """Field -> description of a 400's google.rpc.BadRequest."""
    assert response.status_code == 400, f"{response.status_code} {response.text[:500]}"
    body = response.json()
    assert body["code"] == 3  # INVALID_ARGUMENT
    found: dict[str, str] = {}
    for detail in body.get("details", []):
        if detail["@type"] == BAD_REQUEST:
            found |= {v["field"]: v["description"] for v in detail["fieldViolations"]}
    return found


def rule(name: str, *tag_lists: list[str]) -> dict[str, Any]:
    return {
        "displayName": name,
        "trigger": "TRIGGER_MESSAGE_RECEIVED",
        "actions": [{"addTag": {"tags": tags}} for tags in tag_lists],
    }


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def tenants(http: httpx.Client) -> tuple[Session, Session]:
    return sign_up(http, "Limits A"), sign_up(http, "Limits B")


def test_oversized_rule_tags_are_refused_and_rules_still_list(
    http: httpx.Client, tenants: tuple[Session, Session]
) -> None:
    h = tenants[0].headers
    huge = http.post("/v1/rules", headers=h, json=rule("huge", ["x" * 600_000]))
    assert "rule.actions[0].add_tag.tags[0]" in violations(huge)
    long_tag = http.post("/v1/rules", headers=h, json=rule("long", ["t" * 65]))
    assert list(violations(long_tag)) == ["rule.actions[0].add_tag.tags[0]"]
    many = http.post("/v1/rules", headers=h, json=rule("many", [f"t{i}" for i in range(51)]))
    assert list(violations(many)) == ["rule.actions[0].add_tag.tags"]
    long_name = http.post("/v1/rules", headers=h, json=rule("n" * 201, ["vip"]))
    assert list(violations(long_name)) == ["rule.display_name"]
    assert ok(http.get("/v1/rules", headers=h)).get("rules", []) == []


def test_a_full_page_of_the_largest_rules_lists(
    http: httpx.Client, tenants: tuple[Session, Session]
) -> None:
    h = tenants[0].headers
    # 50 tags of 64 characters per action, as many actions as fit a rule's 32 KiB:
    # a page is well over Envoy's default 1 MiB buffer.
    tags = [f"{i:02d}" + "t" * 62 for i in range(50)]
    for n in range(MAX_RULES_PER_PAGE + 1):
        ok(http.post("/v1/rules", headers=h, json=rule(f"big {n}", *[tags] * 9)))
    page = http.get("/v1/rules", headers=h, params={"pageSize": 1000})
    listed = ok(page)
    assert len(page.content) > 1024 * 1024
    assert len(listed["rules"]) == MAX_RULES_PER_PAGE
    assert all(len(r["actions"][8]["addTag"]["tags"]) == 50 for r in listed["rules"])
    rest = ok(http.get("/v1/rules", headers=h, params={"pageToken": listed["nextPageToken"]}))
    assert len(rest["rules"]) == 1
    too_big = http.post("/v1/rules", headers=h, json=rule("too big", *[tags] * 11))
    assert list(violations(too_big)) == ["rule"]


def test_order_by_an_unknown_field_is_refused(
    http: httpx.Client, tenants: tuple[Session, Session]
) -> None:
    h = tenants[0].headers
    ok(http.post("/v1/customers", headers=h, json={"displayName": "Ordered"}))
    listed = http.get("/v1/customers", headers=h, params={"orderBy": "bogus_field desc"})
    described = violations(listed)
    assert list(described) == ["order_by"]
    assert "bogus_field" in described["order_by"]
    assert "create_time desc" in described["order_by"]
    searched = http.post("/v1/customers:search", headers=h, json={"orderBy": "display_name"})
    assert list(violations(searched)) == ["order_by"]
    assert ok(http.get("/v1/customers", headers=h, params={"orderBy": "create_time desc"}))[
        "customers"
    ]


def test_a_page_token_from_another_tenant_is_not_valid_for_this_caller(
    http: httpx.Client, tenants: tuple[Session, Session]
) -> None:
    a, b = tenants[0].headers, tenants[1].headers
    for n in range(2):
        ok(http.post("/v1/customers", headers=a, json={"displayName": f"Paged {n}"}))
    customers = ok(http.get("/v1/customers", headers=a, params={"pageSize": 1}))
    rules = ok(http.get("/v1/rules", headers=a, params={"pageSize": 1}))
    for path, token in (
        ("/v1/customers", customers["nextPageToken"]),
        ("/v1/rules", rules["nextPageToken"]),
    ):
        assert token
        refused = violations(http.get(path, headers=b, params={"pageToken": token}))
        assert list(refused) == ["page_token"]
        assert "not issued to this caller" in refused["page_token"]
        assert "other parameters" not in refused["page_token"]
        ok(http.get(path, headers=a, params={"pageToken": token}))
