"""Steps the product-document scenarios share: REST calls through the gateway, each
named for what a user does (a customer writes, an admin saves a rule, ...)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.e2e.rest import PASSWORD, Session, eventually, login, ok

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
ADAPTER_ATTEMPTS = 3


def leaf(field: str, op: str, *values: str) -> dict[str, Any]:
    return {"leaf": {"field": field, "operator": f"OPERATOR_{op}", "values": list(values)}}


def all_of(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"group": {"operator": "LOGICAL_OPERATOR_AND", "conditions": list(conditions)}}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def retry_delay(response: httpx.Response) -> float:
    """The wait a refusal advises (Retry-After, else google.rpc.RetryInfo), 1 s if none."""
    if "retry-after" in response.headers:
        return float(response.headers["retry-after"])
    try:
        details = response.json().get("details", [])
    except ValueError:
        details = []
    for detail in details:
        if detail.get("@type", "").endswith("google.rpc.RetryInfo"):
            return float(str(detail.get("retryDelay", "1s")).rstrip("s"))
    return 1.0


def customer_writes(
    http: httpx.Client, team: Session, sender: str, text: str, **extra: Any
) -> dict[str, Any]:
    """A customer's message arrives (e-mail channel), as a channel adapter posts it:
    with the channel's message id, and posted again, as an adapter does, while the
    platform answers 503 or 429 with retry advice (the id makes that safe: the
    message is stored once)."""
    body = {
        "sender": {"channel": "CHANNEL_EMAIL", "externalId": sender},
        "text": text,
        "externalId": f"mail-{uuid.uuid4().hex}",
        **extra,
    }
    for _ in range(ADAPTER_ATTEMPTS - 1):
        response = http.post("/v1/messages:ingest", headers=team.headers, json=body)
        if response.status_code not in (429, 503):
            break
        time.sleep(retry_delay(response))
    else:
        response = http.post("/v1/messages:ingest", headers=team.headers, json=body)
    return ok(response)


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
