"""Small REST helpers for the end-to-end tests (through Envoy)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

TENANT_HEADER = "x-crosstalk-tenant-id"


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (
        f"{response.request.url}: {response.status_code} {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


def sign_up(http: httpx.Client, company: str = "Acme Export") -> str:
    """A new tenant; returns its id."""
    body = ok(
        http.post(
            "/v1/tenants:signUp",
            json={
                "companyName": company,
                "industry": "outdoor gear",
                "teamSize": 5,
                "workingLanguage": "zh",
                "adminEmail": f"admin-{uuid.uuid4().hex[:10]}@acme.test",
                "adminDisplayName": "Li Wei",
                "adminPassword": "correct horse battery",
            },
        )
    )
    return str(body["tenant"]["name"]).removeprefix("tenants/")


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition"
) -> T:
    """Poll until probe returns something truthy (events are asynchronous)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout:.0f}s (last: {last!r})")
