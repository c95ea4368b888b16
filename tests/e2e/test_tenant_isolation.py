"""One tenant never sees or changes another's rows: 404, never 200 or 403."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import ok, sign_up

pytestmark = pytest.mark.e2e


def test_tenants_cannot_see_each_other(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant_a, tenant_b = sign_up(http, "Tenant A"), sign_up(http, "Tenant B")
        a, b = tenant_a.headers, tenant_b.headers
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
        assert http.get(f"/v1/tenants/{tenant_a.tenant_id}", headers=b).status_code == 404
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
        assert (
            ok(http.get(f"/v1/tenants/{tenant_a.tenant_id}", headers=a))["displayName"]
            == "Tenant A"
        )


IDENTITY_RESOURCES = {
    # collection -> a resource to create in it
    "/v1/departments": {"displayName": "Sales DE"},
    "/v1/groups": {"displayName": "Marketing", "kind": "GROUP_KIND_MARKETING"},
    "/v1/roles": {
        "displayName": "Night shift",
        "permissions": ["customers.read"],
        "dataScope": "DATA_SCOPE_OWN",
    },
    "/v1/members": {"member": {"email": "isolated-{n}@tenant-a.test", "displayName": "A's agent"}},
    "/v1/apiKeys": {"displayName": "A's shop adapter", "role": "roles/normal"},
}


def _filled(template: dict[str, Any], unique: str) -> dict[str, Any]:
    """The template with {n} in every string (nested ones too) replaced by ``unique``."""
    return {
        k: v.format(n=unique)
        if isinstance(v, str)
        else _filled(v, unique)
        if isinstance(v, dict)
        else v
        for k, v in template.items()
    }


def test_identity_resources_stay_inside_their_tenant(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant_a, tenant_b = sign_up(http, "Tenant A2"), sign_up(http, "Tenant B2")
        a, b = tenant_a.headers, tenant_b.headers
        for collection, template in IDENTITY_RESOURCES.items():
            unique = uuid.uuid4().hex[:8]
            body = _filled(template, unique)
            created = ok(http.post(collection, headers=a, json=body))
            name = created.get("name") or created["apiKey"]["name"]
            key = collection.rsplit("/", 1)[1]
            assert http.get(f"/v1/{name}", headers=b).status_code == 404, name
            assert http.delete(f"/v1/{name}", headers=b).status_code == 404, name
            listed = ok(http.get(collection, headers=b)).get(key, [])
            assert name not in {item["name"] for item in listed}, name
            assert ok(http.get(f"/v1/{name}", headers=a))["name"] == name
        audit = ok(http.get("/v1/auditEvents", headers=b)).get("auditEvents", [])
        assert all(tenant_a.email not in str(event) for event in audit)
