"""The inbox through Envoy: ingest -> list unread -> status machine (an inbound message keeps
IN_PROGRESS, reopens CLOSED) -> priority -> assignment (member, group by strategy) -> notes
-> labels -> attachments; bad input names its fields; tenant B never reaches tenant A's
conversations or messages; a scoped member gets 404 outside its data scope."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, Session, eventually, login, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def _ingest(
    http: httpx.Client, team: Session, sender: str, text: str, **extra: Any
) -> dict[str, Any]:
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


def _fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    return {
        v["field"]
        for d in response.json().get("details", [])
        if d["@type"] == BAD_REQUEST
        for v in d["fieldViolations"]
    }


def _inbox(http: httpx.Client, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    body = ok(http.get("/v1/conversations", headers=headers, params=params))
    return list(body.get("conversations", []))


def _post(http: httpx.Client, team: Session, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(http.post(path, headers=team.headers, json=body))


def _admin_member(http: httpx.Client, team: Session) -> str:
    members = ok(http.get("/v1/members", headers=team.headers))["members"]
    (admin,) = [m for m in members if m["email"] == team.email]
    return str(admin["name"])


def test_the_inbox_round(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        team = sign_up(http, "Inbox Round", working_language="en")
        ana, bob = (f"{n}-{uuid.uuid4().hex[:6]}@buyer.test" for n in ("ana", "bob"))
        first = _ingest(http, team, ana, "Where is my parcel?")
        _ingest(http, team, ana, "Hello? Anyone?")
        _ingest(http, team, bob, "Thanks, all good")
        name = first["conversation"]

        unread = _inbox(http, team.headers, unread="true")
        assert {c["name"] for c in unread} >= {name}
        mine = ok(http.get(f"/v1/{name}", headers=team.headers))
        assert (mine["status"], mine["followUps"], mine["unreadCount"]) == (
            "CONVERSATION_STATUS_UNREAD",
            2,
            2,
        )
        assert mine["identity"]["externalId"] == ana
        assert "lastInboundTime" in mine
        assert "openTime" in mine

        # IN_PROGRESS stays on a new inbound message; the follow-ups rise.
        working = _post(
            http, team, f"/v1/{name}:setStatus", {"status": "CONVERSATION_STATUS_IN_PROGRESS"}
        )
        assert working["status"] == "CONVERSATION_STATUS_IN_PROGRESS"
        _ingest(http, team, ana, "Still waiting")
        mine = ok(http.get(f"/v1/{name}", headers=team.headers))
        assert (mine["status"], mine["followUps"]) == ("CONVERSATION_STATUS_IN_PROGRESS", 3)

        # CLOSED reopens as UNREAD in the same conversation.
        _post(http, team, f"/v1/{name}:setStatus", {"status": "CONVERSATION_STATUS_CLOSED"})
        assert _inbox(http, team.headers, statuses="CONVERSATION_STATUS_CLOSED")[0]["name"] == name
        again = _ingest(http, team, ana, "It broke again")
        assert again["conversation"] == name
        mine = ok(http.get(f"/v1/{name}", headers=team.headers))
        assert (mine["status"], mine["followUps"]) == ("CONVERSATION_STATUS_UNREAD", 4)

        # Priority: urgent first.
        bob_conversation = next(c for c in _inbox(http, team.headers) if c["name"] != name)
        _post(
            http,
            team,
            f"/v1/{bob_conversation['name']}:setPriority",
            {"priority": "PRIORITY_URGENT"},
        )
        assert _inbox(http, team.headers)[0]["name"] == bob_conversation["name"]
        assert [c["name"] for c in _inbox(http, team.headers, priority="PRIORITY_URGENT")] == [
            bob_conversation["name"]
        ]

        # Assignment to a member (known once identity's member.created reached messaging),
        # then to a group by strategy.
        admin = _admin_member(http, team)

        def assigned() -> dict[str, Any] | None:
            response = http.post(
                f"/v1/{name}:assign", headers=team.headers, json={"assignee": admin}
            )
            return response.json() if response.status_code == 200 else None

        assert eventually(assigned, what="assignment to the admin")["assignee"] == admin
        assert [c["name"] for c in _inbox(http, team.headers, assignee=admin)] == [name]
        group = _post(
            http,
            team,
            "/v1/groups",
            {"displayName": "Support", "kind": "GROUP_KIND_SERVICE", "members": [admin]},
        )["name"]

        def by_group() -> dict[str, Any] | None:
            response = http.post(
                f"/v1/{bob_conversation['name']}:assign",
                headers=team.headers,
                json={"assigneeGroup": group, "strategy": "ASSIGN_STRATEGY_LEAST_BUSY"},
            )
            return response.json() if response.status_code == 200 else None

        picked = eventually(by_group, what="assignment to the group")
        assert (picked["assignee"], picked["assigneeGroup"]) == (admin, group)

        # A note: never sent, no status change, listed only with include_notes.
        note = _post(http, team, f"/v1/{name}/notes", {"text": "VIP: refund without questions"})
        assert note["internalNote"] is True
        assert note["sentBy"] == admin
        plain = ok(http.get(f"/v1/{name}/messages", headers=team.headers))["messages"]
        everything = ok(
            http.get(f"/v1/{name}/messages", headers=team.headers, params={"includeNotes": "true"})
        )["messages"]
        assert [m["text"] for m in plain][:2] == ["Where is my parcel?", "Hello? Anyone?"]
        assert len(everything) == len(plain) + 1
        assert everything[-1]["name"] == note["name"]
        assert ok(http.get(f"/v1/{note['name']}", headers=team.headers))["internalNote"] is True
        assert ok(http.get(f"/v1/{name}", headers=team.headers))["status"] == (
            "CONVERSATION_STATUS_UNREAD"
        )

        # Labels: the tenant's own list, on conversations, as a filter.
        complaint = _post(http, team, "/v1/conversationLabels", {"displayName": "Complaint"})
        refund = _post(http, team, "/v1/conversationLabels", {"displayName": "Refund"})
        duplicate = http.post(
            "/v1/conversationLabels", headers=team.headers, json={"displayName": "complaint"}
        )
        assert duplicate.status_code == 409, duplicate.text
        labelled = _post(http, team, f"/v1/{name}:setLabels", {"labels": [complaint["name"]]})
        assert labelled["labels"] == [complaint["name"]]
        assert [c["name"] for c in _inbox(http, team.headers, labels=complaint["name"])] == [name]
        assert _inbox(http, team.headers, labels=refund["name"]) == []
        names = ok(http.get("/v1/conversationLabels", headers=team.headers))
        assert [x["displayName"] for x in names["conversationLabels"]] == ["Complaint", "Refund"]
        assert http.delete(f"/v1/{refund['name']}", headers=team.headers).status_code == 200

        # Attachments: text optional with one.
        photo = {
            "name": "broken.jpg",
            "contentType": "image/jpeg",
            "sizeBytes": "48213",
            "uri": "https://files.buyer.test/broken.jpg",
        }
        with_photo = _ingest(http, team, ana, "", attachments=[photo])
        assert with_photo["attachments"] == [photo]
        assert ok(http.get(f"/v1/{with_photo['name']}", headers=team.headers))["attachments"] == [
            photo
        ]


def test_bad_input_names_its_fields(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        team = sign_up(http, "Inbox Bad Input", working_language="en")
        name = _ingest(http, team, "x@buyer.test", "hi")["conversation"]
        h = team.headers

        assert _fields(
            http.post(
                f"/v1/{name}:setStatus", headers=h, json={"status": "CONVERSATION_STATUS_UNREAD"}
            )
        ) == {"status"}
        assert _fields(http.post(f"/v1/{name}:setStatus", headers=h, json={})) == {"status"}
        assert _fields(http.post(f"/v1/{name}:setPriority", headers=h, json={})) == {"priority"}
        assert _fields(
            http.post(
                f"/v1/{name}:assign",
                headers=h,
                json={"assignee": "bob", "assigneeGroup": "teams/x"},
            )
        ) == {"assignee", "assignee_group"}
        assert _fields(http.post(f"/v1/{name}/notes", headers=h, json={"text": "  "})) == {"text"}
        assert _fields(http.post(f"/v1/{name}:setLabels", headers=h, json={"labels": ["x/y"]})) == {
            "labels[0]"
        }
        assert _fields(
            http.post("/v1/conversationLabels", headers=h, json={"displayName": " "})
        ) == {"conversation_label.display_name"}
        assert _fields(
            http.get(
                "/v1/conversations",
                headers=h,
                params={"customer": "people/1", "customerTags": "bad", "assignee": "bob"},
            )
        ) == {"customer", "customer_tags[0]", "assignee"}
        assert _fields(
            http.post(
                "/v1/messages:ingest",
                headers=h,
                json={
                    "sender": {"channel": "CHANNEL_EMAIL", "externalId": "x@buyer.test"},
                    "attachments": [
                        {"name": "", "contentType": "nope", "sizeBytes": "-1", "uri": "ftp://x"}
                    ],
                },
            )
        ) == {
            "attachments[0].name",
            "attachments[0].content_type",
            "attachments[0].size_bytes",
            "attachments[0].uri",
        }
        assert _fields(
            http.post(
                "/v1/messages:ingest",
                headers=h,
                json={"sender": {"channel": "CHANNEL_EMAIL", "externalId": "x@buyer.test"}},
            )
        ) == {"text"}


def test_tenant_b_never_reaches_tenant_as_conversations(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        a = sign_up(http, "Inbox Tenant A", working_language="en")
        b = sign_up(http, "Inbox Tenant B", working_language="en")
        message = _ingest(http, a, "secret@buyer.test", "my secret order")
        name = message["conversation"]

        for path in (f"/v1/{name}", f"/v1/{message['name']}", f"/v1/{name}/messages"):
            response = http.get(path, headers=b.headers)
            assert response.status_code == 404, (path, response.text)
        for path, body in (
            (f"/v1/{name}:setStatus", {"status": "CONVERSATION_STATUS_CLOSED"}),
            (f"/v1/{name}/notes", {"text": "x"}),
            (f"/v1/{name}:setPriority", {"priority": "PRIORITY_LOW"}),
        ):
            assert http.post(path, headers=b.headers, json=body).status_code == 404, path
        assert _inbox(http, b.headers) == []
        assert [c["name"] for c in _inbox(http, a.headers)] == [name]


def test_a_scoped_member_sees_only_conversations_of_customers_in_scope(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        team = sign_up(http, "Inbox Scope", working_language="en")
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
        for label, department in (("ours", sales), ("theirs", support)):
            ok(
                http.post(
                    "/v1/customers",
                    headers=admin,
                    json={
                        "displayName": label,
                        "department": department,
                        "identities": [
                            {"channel": "CHANNEL_EMAIL", "externalId": f"{label}@buyer.test"}
                        ],
                    },
                )
            )
        ours = _ingest(http, team, "ours@buyer.test", "in scope")
        theirs = _ingest(http, team, "theirs@buyer.test", "out of scope")

        # Once the customers' snapshots reached messaging, the senior sees its own
        # department's conversation, and never the other one.
        eventually(
            lambda: http.get(f"/v1/{ours['conversation']}", headers=senior).status_code == 200,
            what="the in-scope conversation visible to the senior",
        )
        assert [c["name"] for c in _inbox(http, senior)] == [ours["conversation"]]
        for path in (
            f"/v1/{theirs['conversation']}",
            f"/v1/{theirs['name']}",
            f"/v1/{theirs['conversation']}/messages",
        ):
            assert http.get(path, headers=senior).status_code == 404, path
        seen = ok(http.get(f"/v1/{ours['conversation']}", headers=senior))
        assert seen["department"] == sales
        assert {c["name"] for c in _inbox(http, admin)} == {
            ours["conversation"],
            theirs["conversation"],
        }
