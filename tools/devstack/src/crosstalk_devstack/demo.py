"""The demo tenant `make run` seeds (once; later runs find it in var/demo.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

DEMO_EMAIL = "demo@crosstalk.test"
DEMO_PASSWORD = "paper-lantern-harbour-2026"  # noqa: S105 - the documented local demo login


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        request = response.request
        raise RuntimeError(
            f"{request.method} {request.url}: {response.status_code} {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def login(http: httpx.Client, email: str, password: str) -> str:
    """A fresh access token for the demo admin."""
    tokens = _check(http.post("/v1/auth:login", json={"email": email, "password": password}))
    return str(tokens["accessToken"])


def keyword_tag_rule(display_name: str, keywords: list[str], tag: str) -> dict[str, Any]:
    """The REST body of an enabled rule: a received message whose text holds one
    of the keywords gets its customer the tag."""
    return {
        "displayName": display_name,
        "trigger": "TRIGGER_MESSAGE_RECEIVED",
        "enabled": True,
        "condition": {
            "leaf": {"field": "text", "operator": "OPERATOR_MATCHES_KEYWORDS", "values": keywords}
        },
        "actions": [{"addTag": {"tags": [tag]}}],
    }


def seed_demo(gateway_url: str, state_file: Path) -> dict[str, Any]:
    if state_file.exists():
        return dict(json.loads(state_file.read_text()))
    with httpx.Client(base_url=gateway_url, timeout=10) as http:
        signed_up = _check(
            http.post(
                "/v1/tenants:signUp",
                json={
                    "companyName": "Demo Cross-Border Shop",
                    "industry": "consumer electronics",
                    "teamSize": 8,
                    # English: the offline Apertium pairs translate Spanish, French and
                    # Portuguese into it. Chinese needs an Argos model or an HTTP engine.
                    "workingLanguage": "en",
                    "adminEmail": DEMO_EMAIL,
                    "adminDisplayName": "Demo Admin",
                    "adminPassword": DEMO_PASSWORD,
                },
            )
        )
        tenant_id = signed_up["tenant"]["name"].removeprefix("tenants/")
        headers = {"authorization": f"Bearer {login(http, DEMO_EMAIL, DEMO_PASSWORD)}"}
        _check(
            http.post(
                "/v1/rules",
                headers=headers,
                json=keyword_tag_rule(
                    "Refund requests go to after-sales",
                    ["refund", "退款", "Rückerstattung", "reembolso"],
                    "after-sales",
                ),
            )
        )
    state = {"tenant_id": tenant_id, "email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state, indent=2))
    return state
