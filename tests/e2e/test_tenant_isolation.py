"""One tenant never sees or changes another's rows: 404, never 200 or 403."""

from __future__ import annotations

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import TENANT_HEADER, ok, sign_up

pytestmark = pytest.mark.e2e


def test_tenants_cannot_see_each_other(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant_a, tenant_b = sign_up(http, "Tenant A"), sign_up(http, "Tenant B")
        a, b = {TENANT_HEADER: tenant_a}, {TENANT_HEADER: tenant_b}
        customer = ok(http.post("/v1/customers", headers=a, json={"displayName": "A's customer"}))
        rule = ok(
            http.post(
                "/v1/rules",
                headers=a,
                json={
                    "displayName": "A's rule",
                    "trigger": "TRIGGER_MESSAGE_RECEIVED",
                    "actions": [{"addTag": {"tags": ["vip"]}}],
                },
            )
        )
        name = customer["name"]
        assert http.get(f"/v1/{name}", headers=b).status_code == 404
        assert (
            http.patch(f"/v1/{name}", headers=b, json={"displayName": "stolen"}).status_code == 404
        )
        assert http.delete(f"/v1/{name}", headers=b).status_code == 404
        assert ok(http.get("/v1/customers", headers=b)).get("customers", []) == []
        assert ok(http.post("/v1/customers:search", headers=b, json={})).get("customers", []) == []
        assert http.get(f"/v1/{rule['name']}", headers=b).status_code == 404
        assert ok(http.get("/v1/rules", headers=b)).get("rules", []) == []
        assert http.get(f"/v1/tenants/{tenant_a}", headers=b).status_code == 404
        # the same identity in another tenant is another customer
        theirs = ok(
            http.post(
                "/v1/customers:resolveIdentity",
                headers=b,
                json={"identity": {"channel": "CHANNEL_EMAIL", "externalId": "shared@example.com"}},
            )
        )
        mine = ok(
            http.post(
                "/v1/customers:resolveIdentity",
                headers=a,
                json={"identity": {"channel": "CHANNEL_EMAIL", "externalId": "shared@example.com"}},
            )
        )
        assert theirs["customer"]["name"] != mine["customer"]["name"]
        # and A still has its own data, untouched
        assert ok(http.get(f"/v1/{name}", headers=a))["displayName"] == "A's customer"
        assert ok(http.get(f"/v1/tenants/{tenant_a}", headers=a))["displayName"] == "Tenant A"
