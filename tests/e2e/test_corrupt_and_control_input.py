"""Corrupt requests, control characters and implausible ingest claims: INVALID_ARGUMENT, never 5xx.

Through Envoy (REST and grpc-web) and directly over gRPC with raw bytes.
Identities are compared as NFC, trimmed text: two spellings of one e-mail
address are one customer.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
GET_CUSTOMER = "/crosstalk.customers.v1.CustomersService/GetCustomer"


def _violations(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["code"] == 3, body  # INVALID_ARGUMENT
    return [
        v["field"]
        for detail in body.get("details", [])
        if detail["@type"] == BAD_REQUEST
        for v in detail["fieldViolations"]
    ]


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Session:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        return sign_up(http, "Corrupt Input Testers")


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as client:
        yield client


class _LogTail:
    """The lines a service logs from now on (JSON, one object a line)."""

    def __init__(self, stack: Stack, service: str) -> None:
        self._path: Path = stack.config.var_dir / "logs" / f"{service}.log"
        self._start = self._path.stat().st_size

    def entries(self) -> list[dict[str, Any]]:
        with self._path.open("rb") as log:
            log.seek(self._start)
            text = log.read().decode("utf-8", errors="replace")
        found = []
        for line in text.splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                found.append({"level": "RAW", "message": line})
        return found


def _assert_one_warning_no_traceback(tail: _LogTail, method: str) -> None:
    entries = tail.entries()
    loud = [e for e in entries if e.get("level") not in ("DEBUG", "INFO")]
    assert [(e["level"], method in e["message"]) for e in loud] == [("WARNING", True)], loud
    assert not any("exc_info" in e or "Traceback" in str(e.get("message")) for e in entries)


# --- item 12: corrupt requests ------------------------------------------------------------


def test_invalid_utf8_in_a_resource_name_is_a_400(
    stack: Stack, tenant: Session, http: httpx.Client
) -> None:
    tail = _LogTail(stack, "customers")
    response = http.get("/v1/customers/%ff%fe", headers=tenant.headers)
    # The transcoder binds the bytes to `name`; the service refuses them naming it.
    assert response.status_code == 400, response.text
    assert _violations(response) == ["name"]
    entries = tail.entries()
    assert not any(e.get("level") in ("ERROR", "CRITICAL") or "exc_info" in e for e in entries)


def test_a_corrupt_grpc_web_body_is_invalid_argument(
    stack: Stack, tenant: Session, http: httpx.Client
) -> None:
    garbage = b"\xff\xff\xff\xff"
    tail = _LogTail(stack, "customers")
    response = http.post(
        GET_CUSTOMER,
        content=struct.pack(">BI", 0, len(garbage)) + garbage,
        headers={
            **tenant.headers,
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
        },
    )
    assert response.status_code == 200, response.text
    status = response.headers.get("grpc-status")
    if status is None:  # not trailers-only: the status is in the trailer frame
        body, offset, trailers = response.content, 0, ""
        while offset < len(body):
            flags, length = struct.unpack(">BI", body[offset : offset + 5])
            if flags & 0x80:
                trailers = body[offset + 5 : offset + 5 + length].decode()
            offset += 5 + length
        status = trailers.split("grpc-status:")[1].split("\r\n")[0]
    assert status.strip() == "3"
    _assert_one_warning_no_traceback(tail, "GetCustomer")


@pytest.mark.parametrize(
    ("raw", "field"),
    [(b"\x0a\x02\xff\xfe", "name"), (b"\xff\xff\xff\xff", "")],
    ids=["bad-utf8", "garbage"],
)
def test_corrupt_bytes_over_grpc_are_invalid_argument(
    stack: Stack, tenant: Session, raw: bytes, field: str
) -> None:
    tail = _LogTail(stack, "customers")
    with grpc.insecure_channel(stack.config.address("customers")) as channel:
        # Identity serializers: the bytes go on the wire as written.
        get: Any = channel.unary_unary(GET_CUSTOMER)
        with pytest.raises(grpc.RpcError) as caught:
            get(raw, metadata=tenant.metadata, timeout=5)
    err: Any = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    status = rpc_status.from_call(err)
    assert status is not None
    fields = []
    for packed in status.details:
        if packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            packed.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    assert fields == [field]
    _assert_one_warning_no_traceback(tail, "GetCustomer")


# --- item 16: control characters, identities ----------------------------------------------


def test_control_characters_are_refused_naming_the_field(
    tenant: Session, http: httpx.Client
) -> None:
    headers = tenant.headers
    created = http.post("/v1/customers", headers=headers, json={"displayName": "Ana\u0000"})
    assert _violations(created) == ["customer.display_name"]
    # JSON values (a Struct) are text too, named by their JSON path.
    fields = http.post(
        "/v1/customers",
        headers=headers,
        json={"displayName": "Ana", "customFields": {"note": "bell\u0007"}},
    )
    assert _violations(fields) == ["customer.custom_fields.note"]

    me = next(
        m
        for m in ok(http.get("/v1/members", headers=headers))["members"]
        if m["email"] == tenant.email
    )
    renamed = http.patch(
        f"/v1/{me['name']}",
        headers=headers,
        params={"updateMask": "displayName"},
        json={"displayName": "Li \u001b[31mWei"},
    )
    assert _violations(renamed) == ["member.display_name"]

    ingested = http.post(
        "/v1/messages:ingest",
        headers=headers,
        json={
            "sender": {"channel": "CHANNEL_EMAIL", "externalId": "x@b.co\u0000"},
            "text": "hello",
        },
    )
    assert _violations(ingested) == ["sender.external_id"]

    # Free text keeps its line breaks and tabs.
    fine = http.post(
        "/v1/messages:ingest",
        headers=headers,
        json={
            "sender": {"channel": "CHANNEL_EMAIL", "externalId": "lines@b.co"},
            "text": "Hello,\r\n\tthe parcel is late.\nRegards",
        },
    )
    assert ok(fine)["text"] == "Hello,\r\n\tthe parcel is late.\nRegards"


def test_spellings_of_one_identity_are_one_customer(tenant: Session, http: httpx.Client) -> None:
    def resolve(external_id: str) -> str:
        body = ok(
            http.post(
                "/v1/customers:resolveIdentity",
                headers=tenant.headers,
                json={"identity": {"channel": "CHANNEL_EMAIL", "externalId": external_id}},
            )
        )
        return str(body["customer"]["name"])

    assert resolve("x@b.co") == resolve(" X@b.co ")
    composed = resolve("jos\u00e9@b.co")
    assert resolve("jose\u0301@b.co") == composed  # NFD spelling of the same address

    def ingest(external_id: str) -> dict[str, Any]:
        return ok(
            http.post(
                "/v1/messages:ingest",
                headers=tenant.headers,
                json={
                    "sender": {"channel": "CHANNEL_EMAIL", "externalId": external_id},
                    "text": "where is my order?",
                },
            )
        )

    first, second = ingest("Rene\u0301@b.co "), ingest("ren\u00e9@b.co")
    assert first["customer"] == second["customer"]
    assert first["conversation"] == second["conversation"]
    assert first["sender"]["externalId"] == second["sender"]["externalId"] == "ren\u00e9@b.co"


# --- item 18: what an ingested message may claim ------------------------------------------


def _ingest_with(http: httpx.Client, tenant: Session, **extra: Any) -> httpx.Response:
    return http.post(
        "/v1/messages:ingest",
        headers=tenant.headers,
        json={
            "sender": {"channel": "CHANNEL_EMAIL", "externalId": "claims@b.co"},
            "text": "hello",
            **extra,
        },
    )


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"sendTime": "9999-12-31T00:00:00Z"}, "send_time"),
        ({"sendTime": "1970-01-01T00:00:00Z"}, "send_time"),
        ({"channelConfig": "channelConfigs/../../x"}, "channel_config"),
        ({"channelConfig": "customers/1"}, "channel_config"),
        # Well spelled, but not a channel config of this tenant.
        ({"channelConfig": "channelConfigs/shop-eu_1"}, "channel_config"),
    ],
)
def test_implausible_ingest_claims_are_refused(
    tenant: Session, http: httpx.Client, extra: dict[str, str], field: str
) -> None:
    assert _violations(_ingest_with(http, tenant, **extra)) == [field]


def test_plausible_ingest_claims_are_accepted(tenant: Session, http: httpx.Client) -> None:
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = ok(
        http.post(
            "/v1/channelConfigs",
            headers=tenant.headers,
            json={"displayName": "Shop EU", "channel": "CHANNEL_EMAIL"},
        )
    )
    ok(_ingest_with(http, tenant, sendTime=an_hour_ago, channelConfig=config["name"]))
