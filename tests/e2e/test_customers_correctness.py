"""Customers through the gateway: filters take the enum names the API returns,
exported workbooks have full-width rows, and ResolveIdentity keeps to the
caller's data scope (issue 12, items 19, 22 and 23)."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, eventually, login, ok, sign_up

pytestmark = pytest.mark.e2e


def _leaf(field: str, op: str, *values: str) -> dict[str, Any]:
    return {"leaf": {"field": field, "operator": f"OPERATOR_{op}", "values": list(values)}}


def _email(address: str) -> dict[str, str]:
    return {"channel": "CHANNEL_EMAIL", "externalId": address}


def _finished(http: httpx.Client, headers: dict[str, str], name: str) -> dict[str, Any] | None:
    current = ok(http.get(f"/v1/{name}", headers=headers))
    assert current["state"] != "JOB_STATE_FAILED", current
    return current if current["state"] == "JOB_STATE_SUCCEEDED" else None


def test_filters_take_the_enum_names_customers_show(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        h = sign_up(http, "Enum Names Co", working_language="en").headers
        dealt = ok(
            http.post(
                "/v1/customers",
                headers=h,
                json={"displayName": "Dealt", "identities": [_email("dealt@buyer.test")]},
            )
        )
        ok(http.post("/v1/customers", headers=h, json={"displayName": "Just looking"}))
        shown = ok(
            http.post(
                f"/v1/{dealt['name']}:setLifecycleStage",
                headers=h,
                json={"stage": "LIFECYCLE_STAGE_DEAL"},
            )
        )
        stage = shown["lifecycleStage"]
        channel = shown["identities"][0]["channel"]
        assert (stage, channel) == ("LIFECYCLE_STAGE_DEAL", "CHANNEL_EMAIL")

        for condition in (
            _leaf("lifecycle_stage", "IN", stage),
            _leaf("lifecycle_stage", "EQUALS", "deal"),  # the short form still works
            _leaf("channel", "IN", channel),
        ):
            found = ok(http.post("/v1/customers:search", headers=h, json={"condition": condition}))
            assert [c["name"] for c in found["customers"]] == [dealt["name"]], condition
            counted = ok(http.post("/v1/customers:count", headers=h, json={"condition": condition}))
            assert counted["count"] == "1", condition
        others = _leaf("lifecycle_stage", "NOT_EQUALS", stage)
        found = ok(http.post("/v1/customers:search", headers=h, json={"condition": others}))
        assert [c["displayName"] for c in found["customers"]] == ["Just looking"]

        # Rules name channels the same way, and the rule fires on an e-mail.
        ok(
            http.post(
                "/v1/rules",
                headers=h,
                json={
                    "displayName": "E-mail senders",
                    "trigger": "TRIGGER_MESSAGE_RECEIVED",
                    "enabled": True,
                    "condition": _leaf("channel", "EQUALS", "CHANNEL_EMAIL"),
                    "actions": [{"addTag": {"tags": ["by-email"]}}],
                },
            )
        )
        ok(
            http.post(
                "/v1/messages:ingest",
                headers=h,
                json={"sender": _email("dealt@buyer.test"), "text": "Where is my parcel?"},
            )
        )
        eventually(
            lambda: ok(http.get("/v1/dashboard", headers=h))["rulesFired"] == "1",
            what="the channel rule fired",
        )


def test_an_xlsx_export_has_rows_as_wide_as_its_header(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        h = sign_up(http, "Wide Rows Co", working_language="en").headers
        for body in (
            {"displayName": "Everything", "country": "DE", "language": "de"},
            {"displayName": "No language", "country": "FR"},
            {"displayName": "Name only"},
        ):
            ok(http.post("/v1/customers", headers=h, json=body))
        columns = ["display_name", "country", "language"]
        export = ok(
            http.post(
                "/v1/customers:startExport",
                headers=h,
                json={"columns": columns, "format": "FILE_FORMAT_XLSX"},
            )
        )
        eventually(lambda: _finished(http, h, export["name"]), timeout=60, what="export done")
        exported = ok(http.get(f"/v1/{export['name']}/exportFile", headers=h))
        content = base64.b64decode(exported["content"])
        for read_only in (True, False):
            book = load_workbook(io.BytesIO(content), read_only=read_only)
            rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            book.close()
            assert rows[0] == columns
            assert len(rows) == 4
            assert all(len(row) == len(columns) for row in rows), (read_only, rows)
            assert sorted(rows[1:], key=lambda r: str(r[0])) == [
                ["Everything", "DE", "de"],
                ["Name only", None, None],
                ["No language", "FR", None],
            ]


def test_resolve_identity_answers_inside_the_callers_data_scope(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        admin = sign_up(http, "Scoped Resolve Co", working_language="en").headers
        sales, support = (
            ok(http.post("/v1/departments", headers=admin, json={"displayName": name}))["name"]
            for name in ("Sales", "Support")
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
        ours, theirs = (
            ok(
                http.post(
                    "/v1/customers",
                    headers=admin,
                    json={
                        "displayName": label,
                        "department": department,
                        "identities": [_email(f"{label}@buyer.test")],
                    },
                )
            )
            for label, department in (("ours", sales), ("theirs", support))
        )

        def resolve(headers: dict[str, str], address: str) -> httpx.Response:
            return http.post(
                "/v1/customers:resolveIdentity",
                headers=headers,
                json={"identity": _email(address), "displayName": "Someone"},
            )

        in_scope = ok(resolve(senior, "ours@buyer.test"))
        assert (in_scope["customer"]["name"], in_scope.get("created", False)) == (
            ours["name"],
            False,
        )
        hidden = resolve(senior, "theirs@buyer.test")
        assert hidden.status_code == 404, hidden.text
        assert "theirs" not in hidden.text.replace("theirs@buyer.test", "")
        assert theirs["name"] not in hidden.text
        # As GetCustomer answers for the same customer.
        assert http.get(f"/v1/{theirs['name']}", headers=senior).status_code == 404

        # No duplicate was made; the admin still resolves it, and a new identity is created.
        assert ok(http.post("/v1/customers:count", headers=admin, json={}))["count"] == "2"
        assert ok(resolve(admin, "theirs@buyer.test"))["customer"]["name"] == theirs["name"]
        created = ok(resolve(senior, "new@buyer.test"))
        assert created["created"] is True
