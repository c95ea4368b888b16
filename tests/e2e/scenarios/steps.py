"""Steps the product-document scenarios share: REST calls through the gateway, each
named for what a user does (a customer writes, an admin saves a rule, ...)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.e2e.rest import PASSWORD, Session, eventually, login, ok

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def leaf(field: str, op: str, *values: str) -> dict[str, Any]:
    return {"leaf": {"field": field, "operator": f"OPERATOR_{op}", "values": list(values)}}


def all_of(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"group": {"operator": "LOGICAL_OPERATOR_AND", "conditions": list(conditions)}}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def customer_writes(
    http: httpx.Client, team: Session, sender: str, text: str, **extra: Any
) -> dict[str, Any]:
    """A customer's message arrives (e-mail channel), as a channel adapter posts it."""
    return ok(
        http.post(
            "/v1/messages:ingest",
            headers=team.headers,
            json={
                "sender": {"channel": "CHANNEL_EMAIL", "externalId": sender},
                "text": text,
                **extra,
            },
        )
    )


def placed_customer(
    http: httpx.Client, admin: Session, display_name: str, address: str, **placement: str
) -> str:
    """A customer reachable by e-mail at ``address``, with its ``owner`` and/or
    ``department`` when given: its name (customers/{id})."""
    created = ok(
        http.post(
            "/v1/customers",
            headers=admin.headers,
            json={
                "displayName": display_name,
                "identities": [{"channel": "CHANNEL_EMAIL", "externalId": address}],
                **placement,
            },
        )
    )
    return str(created["name"])


def save_rule(http: httpx.Client, team: Session, body: dict[str, Any]) -> dict[str, Any]:
    return ok(http.post("/v1/rules", headers=team.headers, json={"enabled": True, **body}))


def runs(http: httpx.Client, team: Session, rule: str, **params: str) -> list[dict[str, Any]]:
    body = ok(http.get(f"/v1/{rule}/runs", headers=team.headers, params=params))
    return list(body.get("ruleRuns", []))


def matched_runs(
    http: httpx.Client, team: Session, rule: str, **params: str
) -> list[dict[str, Any]]:
    return [
        r for r in runs(http, team, rule, **params) if r["outcome"] == "RULE_RUN_OUTCOME_MATCHED"
    ]


def settled_run(http: httpx.Client, team: Session, rule: str, run_name: str) -> dict[str, Any]:
    """The run once messaging/customers reported every action's outcome."""

    def probe() -> dict[str, Any] | None:
        for run in runs(http, team, rule):
            if run["name"] == run_name and all(
                a["status"] != "ACTION_STATUS_REQUESTED" for a in run.get("actionResults", [])
            ):
                return run
        return None

    return eventually(probe, timeout=60, what=f"the outcomes of {run_name}")


def conversation(http: httpx.Client, team: Session, name: str) -> dict[str, Any]:
    return ok(http.get(f"/v1/{name}", headers=team.headers))


def messages(http: httpx.Client, team: Session, conversation_name: str) -> list[dict[str, Any]]:
    body = ok(
        http.get(
            f"/v1/{conversation_name}/messages", headers=team.headers, params={"pageSize": 100}
        )
    )
    return list(body.get("messages", []))


def outbound(http: httpx.Client, team: Session, conversation_name: str) -> list[dict[str, Any]]:
    return [
        m for m in messages(http, team, conversation_name) if m["direction"] == "DIRECTION_OUTBOUND"
    ]


def add_member(
    http: httpx.Client,
    admin: Session,
    display_name: str,
    role: str,
    *,
    department: str = "",
) -> tuple[str, dict[str, str]]:
    """A member who signs in: (members/{id}, their bearer headers)."""
    email = f"{display_name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@acme.test"
    member: dict[str, Any] = {"email": email, "displayName": display_name, "role": role}
    if department:
        member["department"] = department
    created = ok(
        http.post(
            "/v1/members",
            headers=admin.headers,
            json={"member": member, "initialPassword": PASSWORD},
        )
    )
    return str(created["name"]), bearer(login(http, email)["accessToken"])


def field_violations(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    return [
        v["field"]
        for d in response.json().get("details", [])
        if d["@type"] == BAD_REQUEST
        for v in d["fieldViolations"]
    ]
