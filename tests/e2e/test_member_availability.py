"""Through the gateway: a member sets their own languages, capacity and
availability (what messaging's assignment reads); a bad language is a 400
naming the field; nobody changes someone else's without members.manage."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, login, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def _violations(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["code"] == 3  # INVALID_ARGUMENT
    return [
        v["field"]
        for detail in body.get("details", [])
        if detail["@type"] == BAD_REQUEST
        for v in detail["fieldViolations"]
    ]


def _agent(http: httpx.Client, admin_headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    """A member with the built-in agent role (no members.manage), signed in."""
    email = f"agent-{uuid.uuid4().hex[:8]}@acme.test"
    member = ok(
        http.post(
            "/v1/members",
            headers=admin_headers,
            json={"member": {"email": email, "displayName": "Ana Agent", "role": "roles/normal"}},
        )
    )
    ok(
        http.post(
            f"/v1/{member['name']}:setPassword", headers=admin_headers, json={"password": PASSWORD}
        )
    )
    token = login(http, email)["accessToken"]
    return member, str(token)


def test_a_member_sets_their_own_languages_and_availability(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        admin = sign_up(http)
        member, token = _agent(http, admin.headers)
        assert member["availability"] == "MEMBER_AVAILABILITY_AVAILABLE"
        mine = {"authorization": f"Bearer {token}"}

        changed = ok(
            http.patch(
                f"/v1/{member['name']}",
                headers=mine,
                params={"updateMask": "languages,availability,capacity"},
                json={
                    "languages": ["de", "zh-CN"],
                    "availability": "MEMBER_AVAILABILITY_AWAY",
                    "capacity": 6,
                },
            )
        )
        assert changed["languages"] == ["de", "zh-CN"]
        assert changed["availability"] == "MEMBER_AVAILABILITY_AWAY"
        assert changed["capacity"] == 6
        seen = ok(http.get(f"/v1/{member['name']}", headers=admin.headers))
        assert (seen["languages"], seen["availability"], seen["capacity"]) == (
            ["de", "zh-CN"],
            "MEMBER_AVAILABILITY_AWAY",
            6,
        )

        bad = http.patch(
            f"/v1/{member['name']}",
            headers=mine,
            params={"updateMask": "languages"},
            json={"languages": ["en", "not a language"]},
        )
        assert _violations(bad) == ["member.languages[1]"]
        too_many = http.patch(
            f"/v1/{member['name']}",
            headers=mine,
            params={"updateMask": "capacity"},
            json={"capacity": 5000},
        )
        assert _violations(too_many) == ["member.capacity"]
        unset = http.patch(
            f"/v1/{member['name']}",
            headers=mine,
            params={"updateMask": "availability"},
            json={"availability": "MEMBER_AVAILABILITY_UNSPECIFIED"},
        )
        assert _violations(unset) == ["member.availability"]
        after = ok(http.get(f"/v1/{member['name']}", headers=admin.headers))
        assert after["etag"] == changed["etag"]  # nothing half-written

        # Their own role, or someone else's availability: members.manage.
        own_role = http.patch(
            f"/v1/{member['name']}",
            headers=mine,
            params={"updateMask": "role"},
            json={"role": "roles/admin"},
        )
        assert own_role.status_code == 403, own_role.text
        other, _ = _agent(http, admin.headers)
        someone_else = http.patch(
            f"/v1/{other['name']}",
            headers=mine,
            params={"updateMask": "availability"},
            json={"availability": "MEMBER_AVAILABILITY_OFFLINE"},
        )
        assert someone_else.status_code == 403, someone_else.text
        # An admin may.
        by_admin = ok(
            http.patch(
                f"/v1/{other['name']}",
                headers=admin.headers,
                params={"updateMask": "availability"},
                json={"availability": "MEMBER_AVAILABILITY_OFFLINE"},
            )
        )
        assert by_admin["availability"] == "MEMBER_AVAILABILITY_OFFLINE"
