"""Customer filters, counts, a saved segment, a bulk job by filter and an export,
through Envoy over REST, with the jobs run by the customers service's own worker."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def _leaf(field: str, op: str, *values: str) -> dict[str, Any]:
    return {"leaf": {"field": field, "operator": f"OPERATOR_{op}", "values": list(values)}}


def _and(*children: dict[str, Any]) -> dict[str, Any]:
    return {"group": {"operator": "LOGICAL_OPERATOR_AND", "conditions": list(children)}}


def _violations(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    return [
        v
        for d in response.json().get("details", [])
        if d["@type"] == BAD_REQUEST
        for v in d["fieldViolations"]
    ]


def test_filter_count_segment_bulk_job_and_export(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        h = sign_up(http, "Filter Co").headers
        other = sign_up(http, "Other Co").headers
        ok(
            http.post(
                "/v1/customFieldDefinitions",
                headers=h,
                json={"key": "budget", "displayName": "Budget", "type": "CUSTOM_FIELD_TYPE_NUMBER"},
            )
        )
        for n in range(12):
            ok(
                http.post(
                    "/v1/customers",
                    headers=h,
                    json={
                        "displayName": f"Buyer {n}",
                        "country": "DE" if n % 2 else "VN",
                        "customFields": {"budget": n * 100},
                    },
                )
            )
        ok(
            http.post(
                "/v1/customers", headers=other, json={"displayName": "Not yours", "country": "DE"}
            )
        )
        rich_germans = _and(
            _leaf("country", "EQUALS", "DE"), _leaf("custom_fields.budget", "GTE", "500")
        )

        found = ok(http.post("/v1/customers:search", headers=h, json={"condition": rich_germans}))
        names = sorted(c["displayName"] for c in found["customers"])
        assert names == ["Buyer 11", "Buyer 5", "Buyer 7", "Buyer 9"]
        counted = ok(http.post("/v1/customers:count", headers=h, json={"condition": rich_germans}))
        assert counted["count"] == "4"
        everyone = ok(http.post("/v1/customers:count", headers=h, json={}))
        assert everyone["count"] == "12"  # the other tenant's customer is not counted

        bad = _and(_leaf("country", "EQUALS", "DE"), _leaf("shoe_size", "EQUALS", "42"))
        fields = [
            v["field"]
            for v in _violations(
                http.post("/v1/customers:count", headers=h, json={"condition": bad})
            )
        ]
        assert fields == ["condition.group.conditions[1].leaf.field"]
        eleven = {
            "group": {
                "operator": "LOGICAL_OPERATOR_OR",
                "conditions": [_leaf("score", "EQUALS", str(n)) for n in range(11)],
            }
        }
        too_many = _violations(
            http.post("/v1/customers:search", headers=h, json={"condition": eleven})
        )
        assert "at most 10 conditions" in too_many[0]["description"]

        segment = ok(
            http.post(
                "/v1/segments",
                headers=h,
                json={
                    "displayName": "Rich Germans",
                    "condition": rich_germans,
                    "visibility": "SEGMENT_VISIBILITY_SHARED",
                },
            )
        )
        assert ok(http.get(f"/v1/{segment['name']}", headers=h))["customerCount"] == "4"
        assert http.get(f"/v1/{segment['name']}", headers=other).status_code == 404

        vip = ok(http.post("/v1/tags", headers=h, json={"displayName": "VIP"}))
        job = ok(
            http.post(
                "/v1/customers:startBulkOperation",
                headers=h,
                json={"condition": rich_germans, "addTags": {"tags": [vip["name"]]}},
            )
        )

        def finished(name: str) -> dict[str, Any] | None:
            current = ok(http.get(f"/v1/{name}", headers=h))
            return current if current["state"] == "JOB_STATE_SUCCEEDED" else None

        done = eventually(lambda: finished(job["name"]), timeout=60, what="bulk job done")
        assert done["succeededCount"] == "4"
        tagged = ok(
            http.post(
                "/v1/customers:count",
                headers=h,
                json={"condition": _leaf("tags", "HAS_ANY_TAG", vip["name"])},
            )
        )
        assert tagged["count"] == "4"
        assert http.get(f"/v1/{job['name']}", headers=other).status_code == 404

        export = ok(
            http.post(
                "/v1/customers:startExport",
                headers=h,
                json={
                    "condition": rich_germans,
                    "columns": ["display_name", "country"],
                    "format": "FILE_FORMAT_CSV",
                },
            )
        )
        eventually(lambda: finished(export["name"]), timeout=60, what="export done")
        exported = ok(http.get(f"/v1/{export['name']}/exportFile", headers=h))
        text = base64.b64decode(exported["content"]).decode("utf-8-sig")
        rows = [line for line in text.splitlines() if line.strip()]
        assert len(rows) == 5  # header + 4 customers
        assert all(",DE" in row for row in rows[1:])
