"""Small REST helpers for the end-to-end tests (through Envoy)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Session:
    """A signed-up tenant's admin, signed in."""

    tenant_id: str
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}

    @property
    def metadata(self) -> list[tuple[str, str]]:
        """For direct gRPC calls."""
        return [("authorization", f"Bearer {self.access_token}")]


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (
        f"{response.request.url}: {response.status_code} {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


def login(http: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    return ok(http.post("/v1/auth:login", json={"email": email, "password": password}))


def sign_up(
    http: httpx.Client, company: str = "Acme Export", *, working_language: str = "zh"
) -> Session:
    """A new tenant, and its first admin signed in."""
    email = f"admin-{uuid.uuid4().hex[:10]}@acme.test"
    body = ok(
        http.post(
            "/v1/tenants:signUp",
            json={
                "companyName": company,
                "industry": "outdoor gear",
                "teamSize": 5,
                "workingLanguage": working_language,
                "adminEmail": email,
                "adminDisplayName": "Li Wei",
                "adminPassword": PASSWORD,
            },
        )
    )
    tokens = login(http, email)
    return Session(
        tenant_id=str(body["tenant"]["name"]).removeprefix("tenants/"),
        email=email,
        access_token=tokens["accessToken"],
        refresh_token=tokens["refreshToken"],
    )


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
