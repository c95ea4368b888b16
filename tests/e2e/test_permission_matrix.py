"""Each built-in role against each sensitive operation, through the gateway."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, Session, login, ok, sign_up

pytestmark = pytest.mark.e2e

ROLES = ("admin", "senior", "normal", "restricted")
TENANT: dict[str, str] = {}  # the tenant under test, set by the test
Call = Callable[[httpx.Client, dict[str, str]], httpx.Response]

RULE = {
    "displayName": "vip",
    "trigger": "TRIGGER_MESSAGE_RECEIVED",
    "actions": [{"addTag": {"tags": ["vip"]}}],
}

# operation -> (how to call it, the roles allowed to)
MATRIX: dict[str, tuple[Call, set[str]]] = {
    "rules.edit: create a rule": (
        lambda h, a: h.post("/v1/rules", headers=a, json=RULE),
        {"admin", "senior"},
    ),
    "rules.read: list rules": (
        lambda h, a: h.get("/v1/rules", headers=a),
        set(ROLES),
    ),
    "customers.write: create a customer": (
        lambda h, a: h.post("/v1/customers", headers=a, json={"displayName": "Ana"}),
        {"admin", "senior", "normal"},
    ),
    "customers.read: list customers": (
        lambda h, a: h.get("/v1/customers", headers=a),
        set(ROLES),
    ),
    "customers.export: export": (
        lambda h, a: h.post("/v1/customers:startExport", headers=a, json={}),
        {"admin", "senior"},
    ),
    "customers.bulk_edit: bulk operation": (
        lambda h, a: h.post("/v1/customers:startBulkOperation", headers=a, json={}),
        {"admin", "senior"},
    ),
    "messages.ingest: ingest a message": (
        lambda h, a: h.post(
            "/v1/messages:ingest",
            headers=a,
            json={"sender": {"channel": "CHANNEL_EMAIL", "externalId": "x@y.test"}, "text": "hi"},
        ),
        {"admin", "senior"},
    ),
    "members.manage: add a member": (
        lambda h, a: h.post(
            "/v1/members",
            headers=a,
            json={"member": {"email": f"m-{uuid.uuid4().hex[:8]}@acme.test", "displayName": "New"}},
        ),
        {"admin"},
    ),
    "audit.read: read the audit log": (
        lambda h, a: h.get("/v1/auditEvents", headers=a),
        {"admin"},
    ),
    "tenant.manage: change settings": (
        lambda h, a: h.patch(f"/v1/tenants/{TENANT['id']}/settings", headers=a, json={}),
        {"admin"},
    ),
    "reports.read: dashboard": (
        lambda h, a: h.get("/v1/dashboard", headers=a),
        set(ROLES),
    ),
}


def _member_session(http: httpx.Client, admin: Session, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@acme.test"
    ok(
        http.post(
            "/v1/members",
            headers=admin.headers,
            json={
                "member": {"email": email, "displayName": role.title(), "role": f"roles/{role}"},
                "initialPassword": PASSWORD,
            },
        )
    )
    return {"authorization": f"Bearer {login(http, email)['accessToken']}"}


def test_each_role_may_do_exactly_what_it_should(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        admin = sign_up(http, "Matrix Co")
        TENANT["id"] = admin.tenant_id
        sessions = {role: _member_session(http, admin, role) for role in ROLES}
        wrong: list[str] = []
        for operation, (call, allowed) in MATRIX.items():
            for role in ROLES:
                status = call(http, sessions[role]).status_code
                denied = status == 403
                if denied == (role in allowed) or status == 401:
                    wrong.append(f"{operation} as {role}: HTTP {status}")
        assert wrong == [], "\n".join(wrong)
