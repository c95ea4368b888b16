"""Through the gateway: no member takes over, or widens, what reaches further than they do.

Issue 12, items 1 and 2: a member whose role holds only members.manage (and
members.read) set an administrator's password and signed in as them; a
roles.manage holder widened their own role to DATA_SCOPE_ALL.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, Session, login, ok, sign_up

pytestmark = pytest.mark.e2e

TAKEOVER_PASSWORD = "taken over by a manager 42"


def _claims(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['accessToken']}"}


def _role(http: httpx.Client, admin: Session, permissions: list[str], scope: str) -> str:
    role = ok(
        http.post(
            "/v1/roles",
            headers=admin.headers,
            json={
                "displayName": f"Custom {uuid.uuid4().hex[:8]}",
                "permissions": permissions,
                "dataScope": scope,
            },
        )
    )
    return str(role["name"])


def _member(http: httpx.Client, admin: Session, role: str) -> tuple[str, str]:
    """A member with ``role`` who can sign in: (name, email)."""
    email = f"member-{uuid.uuid4().hex[:8]}@acme.test"
    member = ok(
        http.post(
            "/v1/members",
            headers=admin.headers,
            json={"member": {"email": email, "displayName": "Mallory", "role": role}},
        )
    )
    ok(
        http.post(
            f"/v1/{member['name']}:setPassword", headers=admin.headers, json={"password": PASSWORD}
        )
    )
    return str(member["name"]), email


def _denied(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 403, (
        f"{response.request.url}: {response.status_code} {response.text}"
    )
    body = response.json()
    assert body["code"] == 7  # PERMISSION_DENIED
    reasons = [d.get("reason") for d in body.get("details", [])]
    assert reason in reasons, body


def test_members_manage_alone_cannot_take_over_an_administrator(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        admin = sign_up(http, "Takeover Co")
        admin_name = str(_claims(admin.access_token)["sub"])
        sales = ok(
            http.post("/v1/departments", headers=admin.headers, json={"displayName": "Sales"})
        )
        # even with the widest scope, members.manage is not a licence over stronger members
        managers = _role(http, admin, ["members.manage", "members.read"], "DATA_SCOPE_ALL")
        _, manager_email = _member(http, admin, managers)
        manager = _bearer(login(http, manager_email))

        attempts = {
            "setPassword": lambda: http.post(
                f"/v1/{admin_name}:setPassword",
                headers=manager,
                json={"password": TAKEOVER_PASSWORD},
            ),
            "disable": lambda: http.post(
                f"/v1/{admin_name}:disable", headers=manager, json={"reason": "bye"}
            ),
            "delete": lambda: http.delete(f"/v1/{admin_name}", headers=manager),
            "change email": lambda: http.patch(
                f"/v1/{admin_name}",
                headers=manager,
                json={"email": f"mallory-{uuid.uuid4().hex[:6]}@evil.test"},
            ),
            "change department": lambda: http.patch(
                f"/v1/{admin_name}", headers=manager, json={"department": sales["name"]}
            ),
            "rename": lambda: http.patch(
                f"/v1/{admin_name}", headers=manager, json={"displayName": "Ex-admin"}
            ),
            "sessions": lambda: http.get(f"/v1/{admin_name}/sessions", headers=manager),
        }
        for what, attempt in attempts.items():
            response = attempt()
            assert response.status_code == 403, f"{what}: {response.status_code} {response.text}"
            _denied(response, "PRIVILEGE_ESCALATION")

        # the administrator is untouched and still signs in with their own password
        assert (
            http.post(
                "/v1/auth:login", json={"email": admin.email, "password": TAKEOVER_PASSWORD}
            ).status_code
            == 401
        )
        assert login(http, admin.email)["accessToken"]
        after = ok(http.get(f"/v1/{admin_name}", headers=admin.headers))
        assert after["email"] == admin.email
        assert after["displayName"] == "Li Wei"
        assert after.get("department", "") == ""
        assert after["state"] == "MEMBER_STATE_ACTIVE"

        # the same manager does manage a member within their reach
        readers = _role(http, admin, ["members.read"], "DATA_SCOPE_OWN")
        reader_name, reader_email = _member(http, admin, readers)
        ok(
            http.post(
                f"/v1/{reader_name}:setPassword",
                headers=manager,
                json={"password": TAKEOVER_PASSWORD},
            )
        )
        assert login(http, reader_email, TAKEOVER_PASSWORD)["accessToken"]


def test_roles_manage_cannot_widen_its_own_data_scope(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        admin = sign_up(http, "Scope Co")
        ok(
            http.post(
                "/v1/customers",
                headers=admin.headers,
                json={
                    "displayName": "The admin's customer",
                    "identities": [{"channel": "CHANNEL_EMAIL", "externalId": "vip@buyer.test"}],
                },
            )
        )
        role = _role(
            http, admin, ["roles.manage", "members.read", "customers.read"], "DATA_SCOPE_OWN"
        )
        _, email = _member(http, admin, role)
        tokens = login(http, email)
        headers = _bearer(tokens)
        assert ok(http.get("/v1/customers", headers=headers)).get("customers", []) == []

        # their own role: not even a harmless change
        _denied(
            http.patch(f"/v1/{role}", headers=headers, json={"dataScope": "DATA_SCOPE_ALL"}),
            "OWN_ROLE",
        )
        _denied(
            http.patch(f"/v1/{role}", headers=headers, json={"description": "mine"}), "OWN_ROLE"
        )
        # nor a new or another role wider than their own scope
        _denied(
            http.post(
                "/v1/roles",
                headers=headers,
                json={
                    "displayName": "Everything",
                    "permissions": ["customers.read"],
                    "dataScope": "DATA_SCOPE_ALL",
                },
            ),
            "PRIVILEGE_ESCALATION",
        )
        other = _role(http, admin, ["customers.read"], "DATA_SCOPE_OWN")
        _denied(
            http.patch(f"/v1/{other}", headers=headers, json={"dataScope": "DATA_SCOPE_ALL"}),
            "PRIVILEGE_ESCALATION",
        )

        assert ok(http.get(f"/v1/{role}", headers=admin.headers))["dataScope"] == "DATA_SCOPE_OWN"
        refreshed = ok(http.post("/v1/auth:refresh", json={"refreshToken": tokens["refreshToken"]}))
        assert _claims(refreshed["accessToken"])["scope"] == "own"
        customers = ok(http.get("/v1/customers", headers=_bearer(refreshed)))
        assert customers.get("customers", []) == []
