"""After-sales cases through Envoy: open from a conversation, move along the machine,
refused moves name the allowed states, tenants never see each other's cases, bad input
names its fields."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, Session, eventually, login, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
PRECONDITION = "type.googleapis.com/google.rpc.PreconditionFailure"


def _conversation(http: httpx.Client, team: Session) -> str:
    message = ok(
        http.post(
            "/v1/messages:ingest",
            headers=team.headers,
            json={
                "sender": {
                    "channel": "CHANNEL_EMAIL",
                    "externalId": f"buyer-{uuid.uuid4().hex[:8]}@example.com",
                },
                "text": "The parcel arrived broken, order A-1001",
            },
        )
    )
    return str(message["conversation"])


def _details(response: httpx.Response, kind: str) -> list[dict[str, Any]]:
    return [d for d in response.json().get("details", []) if d["@type"] == kind]


def _fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    return {v["field"] for d in _details(response, BAD_REQUEST) for v in d["fieldViolations"]}


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def team(http: httpx.Client) -> Session:
    return sign_up(http, "After-sales Desk", working_language="en")


def test_a_refund_case_walks_its_machine_and_refuses_a_skip(
    http: httpx.Client, team: Session
) -> None:
    conversation = _conversation(http, team)
    request_id = str(uuid.uuid4())
    body = {
        "type": "CASE_TYPE_REFUND",
        "conversation": conversation,
        "orderExternalId": "A-1001",
        "amount": {"currencyCode": "EUR", "units": "19", "nanos": 990000000},
        "reason": "damaged",
    }
    case = ok(http.post(f"/v1/cases?requestId={request_id}", headers=team.headers, json=body))
    assert case["state"] == "CASE_STATE_OPEN"
    assert case["customer"].startswith("customers/")
    assert case["conversation"] == conversation
    assert case["allowedNextStates"] == ["CASE_STATE_IN_REVIEW", "CASE_STATE_CANCELLED"]
    assert case["slaDueTime"] > case["createTime"]
    again = ok(http.post(f"/v1/cases?requestId={request_id}", headers=team.headers, json=body))
    assert again["name"] == case["name"]

    skip = http.post(
        f"/v1/{case['name']}:transition",
        headers=team.headers,
        json={"state": "CASE_STATE_REFUNDED"},
    )
    assert skip.status_code == 400, skip.text  # FAILED_PRECONDITION
    assert skip.json()["code"] == 9
    assert "IN_REVIEW, CANCELLED" in skip.json()["message"]
    (failure,) = _details(skip, PRECONDITION)
    assert "IN_REVIEW, CANCELLED" in failure["violations"][0]["description"]

    stale = case["etag"]
    case = ok(
        http.post(
            f"/v1/{case['name']}:transition",
            headers=team.headers,
            json={"state": "CASE_STATE_IN_REVIEW", "note": "checking photos", "etag": stale},
        )
    )
    conflict = http.post(
        f"/v1/{case['name']}:transition",
        headers=team.headers,
        json={"state": "CASE_STATE_APPROVED", "etag": stale},
    )
    assert conflict.status_code == 409, conflict.text
    for state in ("CASE_STATE_APPROVED", "CASE_STATE_REFUNDED", "CASE_STATE_CLOSED"):
        case = ok(
            http.post(f"/v1/{case['name']}:transition", headers=team.headers, json={"state": state})
        )
    assert case["state"] == "CASE_STATE_CLOSED"
    assert case["closeTime"]
    assert case.get("allowedNextStates", []) == []
    steps = [(t.get("fromState"), t["toState"]) for t in case["transitions"]]
    assert steps[0] == ("CASE_STATE_OPEN", "CASE_STATE_IN_REVIEW")
    assert case["transitions"][0]["note"] == "checking photos"
    assert case["transitions"][0]["actor"].startswith("members/")
    fetched = ok(http.get(f"/v1/{case['name']}", headers=team.headers))
    assert fetched["state"] == "CASE_STATE_CLOSED"


def test_update_list_and_delete(http: httpx.Client, team: Session) -> None:
    conversation = _conversation(http, team)
    case = ok(
        http.post(
            "/v1/cases",
            headers=team.headers,
            json={"type": "CASE_TYPE_COMPLAINT", "conversation": conversation},
        )
    )
    updated = ok(
        http.patch(
            f"/v1/{case['name']}?updateMask=reason,priority",
            headers=team.headers,
            json={"reason": "late delivery", "priority": "PRIORITY_HIGH", "etag": case["etag"]},
        )
    )
    assert (updated["reason"], updated["priority"]) == ("late delivery", "PRIORITY_HIGH")
    state_by_update = http.patch(
        f"/v1/{case['name']}?updateMask=state",
        headers=team.headers,
        json={"state": "CASE_STATE_CLOSED"},
    )
    assert "update_mask" in _fields(state_by_update)
    complaints = ok(
        http.get("/v1/cases?type=CASE_TYPE_COMPLAINT&states=CASE_STATE_OPEN", headers=team.headers)
    )
    assert case["name"] in [c["name"] for c in complaints["cases"]]
    refunds = ok(
        http.get("/v1/cases?type=CASE_TYPE_REFUND&states=CASE_STATE_OPEN", headers=team.headers)
    )
    assert case["name"] not in [c["name"] for c in refunds.get("cases", [])]
    stale = http.delete(f"/v1/{case['name']}?etag={case['etag']}", headers=team.headers)
    assert stale.status_code == 409, stale.text
    ok(http.delete(f"/v1/{case['name']}", headers=team.headers))
    assert http.get(f"/v1/{case['name']}", headers=team.headers).status_code == 404


def test_another_tenant_sees_no_case(http: httpx.Client, team: Session) -> None:
    case = ok(
        http.post(
            "/v1/cases",
            headers=team.headers,
            json={"type": "CASE_TYPE_COMPLAINT", "conversation": _conversation(http, team)},
        )
    )
    other = sign_up(http, "Someone Else")
    assert http.get(f"/v1/{case['name']}", headers=other.headers).status_code == 404
    moved = http.post(
        f"/v1/{case['name']}:transition",
        headers=other.headers,
        json={"state": "CASE_STATE_IN_REVIEW"},
    )
    assert moved.status_code == 404
    assert ok(http.get("/v1/cases", headers=other.headers)).get("cases", []) == []
    # Nor can it open a case on this tenant's conversation.
    foreign = http.post(
        "/v1/cases",
        headers=other.headers,
        json={"type": "CASE_TYPE_COMPLAINT", "conversation": case["conversation"]},
    )
    assert "case.conversation" in _fields(foreign)


def test_bad_input_names_the_fields(http: httpx.Client, team: Session) -> None:
    bad = http.post(
        "/v1/cases",
        headers=team.headers,
        json={"conversation": "threads/1", "assignee": "someone", "customer": "bob"},
    )
    assert _fields(bad) == {"case.type", "case.conversation", "case.assignee", "case.customer"}
    missing = http.post(
        "/v1/cases",
        headers=team.headers,
        json={"type": "CASE_TYPE_RETURN", "conversation": _conversation(http, team)},
    )
    assert _fields(missing) == {"case.order_external_id"}
    nobody = http.post(
        "/v1/cases",
        headers=team.headers,
        json={
            "type": "CASE_TYPE_RETURN",
            "conversation": _conversation(http, team),
            "orderExternalId": "A-1",
            "assignee": "members/nobody-here",
        },
    )
    assert _fields(nobody) == {"case.assignee"}
    no_state = http.post("/v1/cases/abc:transition", headers=team.headers, json={})
    assert _fields(no_state) == {"state"}
    too_long = http.post(
        "/v1/cases/abc:transition",
        headers=team.headers,
        json={"state": "CASE_STATE_IN_REVIEW", "note": "x" * 2001},
    )
    assert "note" in _fields(too_long)


def test_a_scoped_member_sees_only_cases_of_customers_in_scope(http: httpx.Client) -> None:
    team = sign_up(http, "Case Scope", working_language="en")
    admin = team.headers
    sales, support = (
        ok(http.post("/v1/departments", headers=admin, json={"displayName": n}))["name"]
        for n in ("Sales", "Support")
    )
    email = f"senior-{uuid.uuid4().hex[:8]}@acme.test"
    ok(
        http.post(
            "/v1/members",
            headers=admin,
            json={
                "member": {
                    "email": email,
                    "displayName": "Senior in sales",
                    "role": "roles/senior",  # data scope: department
                    "department": sales,
                },
                "initialPassword": PASSWORD,
            },
        )
    )
    senior = {"authorization": f"Bearer {login(http, email)['accessToken']}"}
    cases = {}
    for label, department in (("ours", sales), ("theirs", support)):
        ok(
            http.post(
                "/v1/customers",
                headers=admin,
                json={
                    "displayName": label,
                    "department": department,
                    "identities": [{"channel": "CHANNEL_EMAIL", "externalId": f"{label}@b.test"}],
                },
            )
        )
        message = ok(
            http.post(
                "/v1/messages:ingest",
                headers=admin,
                json={
                    "sender": {"channel": "CHANNEL_EMAIL", "externalId": f"{label}@b.test"},
                    "text": "Damaged on arrival",
                },
            )
        )
        cases[label] = ok(
            http.post(
                "/v1/cases",
                headers=admin,
                json={"type": "CASE_TYPE_COMPLAINT", "conversation": message["conversation"]},
            )
        )["name"]

    # Once the customers' snapshots reached messaging, the senior sees its department's case.
    eventually(
        lambda: http.get(f"/v1/{cases['ours']}", headers=senior).status_code == 200,
        what="the in-scope case visible to the senior",
    )
    listed = ok(http.get("/v1/cases", headers=senior))
    assert [c["name"] for c in listed["cases"]] == [cases["ours"]]
    assert http.get(f"/v1/{cases['theirs']}", headers=senior).status_code == 404
    moved = http.post(
        f"/v1/{cases['theirs']}:transition",
        headers=senior,
        json={"state": "CASE_STATE_IN_REVIEW"},
    )
    assert moved.status_code == 404
    ok(
        http.post(
            f"/v1/{cases['ours']}:transition",
            headers=senior,
            json={"state": "CASE_STATE_IN_REVIEW"},
        )
    )
    everything = ok(http.get("/v1/cases", headers=admin))
    assert {c["name"] for c in everything["cases"]} == set(cases.values())
