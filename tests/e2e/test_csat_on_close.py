"""CSAT on close, through Envoy: a Spanish customer writes by e-mail, the agent closes the
conversation, and (the tenant's send_csat_on_close being on) the customer receives, once,
over SMTP (a real aiosmtpd server), the survey link in Spanish; the link's token opens
the form and answers the survey once; the conversation stays CLOSED."""

from __future__ import annotations

import re
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up
from tests.e2e.scenarios.steps import customer_writes
from tests.e2e.test_email_round_trip import (  # noqa: F401
    INBOUND_SECRET,
    Mailbox,
    email_config,
    smtp,
)

pytestmark = pytest.mark.e2e

LINK = re.compile(r"(\S+/csat/([0-9a-f-]{36})\?token=(\S+))")


def _mail(sender: str, text: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "ayuda@shop.test"
    mail["Subject"] = "Mi pedido"
    mail["Message-ID"] = f"<{uuid.uuid4()}@mail.example.es>"
    mail.set_content(text)
    return bytes(mail)


def _text(raw: bytes) -> str:
    body = message_from_bytes(raw, policy=policy.default).get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _send_csat_on_close(http: httpx.Client, team: Session) -> dict[str, Any]:
    return ok(
        http.patch(
            "/v1/messagingSettings",
            headers=team.headers,
            params={"updateMask": "send_csat_on_close"},
            json={"sendCsatOnClose": True},
        )
    )


def _close(http: httpx.Client, team: Session, conversation: str) -> dict[str, Any]:
    return ok(
        http.post(
            f"/v1/{conversation}:setStatus",
            headers=team.headers,
            json={"status": "CONVERSATION_STATUS_CLOSED"},
        )
    )


def _mailbox_to(mailbox: Mailbox, address: str) -> list[bytes]:
    return [raw for _, rcpt, raw in mailbox.received if address in rcpt]


def test_closing_a_conversation_sends_the_survey_link_once_in_the_customers_language(
    stack: Stack,
    smtp: tuple[Mailbox, int],  # noqa: F811
) -> None:
    mailbox, port = smtp
    customer = f"cliente-{uuid.uuid4().hex[:6]}@example.es"
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Encuestas Outdoor", working_language="en")
        assert _send_csat_on_close(http, team)["sendCsatOnClose"] is True
        config = email_config(http, team, port, "ayuda@shop.test", "Ayuda")
        receipt = ok(
            http.post(
                f"/v1/{config['name']}/email",
                content=_mail(customer, "Hola, ¿cuándo llega mi pedido? Gracias por la ayuda."),
                headers={
                    "content-type": "message/rfc822",
                    "x-crosstalk-inbound-secret": INBOUND_SECRET,
                },
            )
        )
        conversation = receipt["conversation"]
        assert ok(http.get(f"/v1/{conversation}", headers=team.headers))["language"] == "es"

        closed = _close(http, team, conversation)
        assert closed["status"] == "CONVERSATION_STATUS_CLOSED"

        (raw,) = eventually(
            lambda: _mailbox_to(mailbox, customer) or None,
            timeout=30,
            what="the survey link at the SMTP server",
        )
        text = _text(raw)
        assert text.startswith("Gracias por escribirnos."), text
        match = LINK.search(text)
        assert match is not None, text
        _, survey_id, token = match.groups()
        survey = f"csatSurveys/{survey_id}"

        stored = ok(http.get(f"/v1/{survey}", headers=team.headers))
        assert (stored["conversation"], stored["state"]) == (conversation, "CSAT_SURVEY_STATE_SENT")
        form = ok(http.get(f"/v1/{survey}/form", params={"token": token}))
        assert form["language"] == "es"
        answered = ok(http.post(f"/v1/{survey}:submit", json={"token": token, "score": 4}))
        assert answered["state"] == "CSAT_SURVEY_STATE_ANSWERED"
        assert (
            http.post(f"/v1/{survey}:submit", json={"token": token, "score": 1}).status_code == 400
        )

        # The link is a message of the conversation, sent by the system; it is no reply.
        def sent_link() -> dict[str, Any] | None:
            listed = ok(http.get(f"/v1/{conversation}/messages", headers=team.headers))
            out = [
                m for m in listed.get("messages", []) if m.get("direction") == "DIRECTION_OUTBOUND"
            ]
            return out[0] if out and out[0].get("deliveryState") == "DELIVERY_STATE_SENT" else None

        link_message = eventually(sent_link, timeout=30, what="the link message marked sent")
        assert link_message["sentBy"] == "system"
        assert link_message["language"] == "es"
        after = ok(http.get(f"/v1/{conversation}", headers=team.headers))
        assert after["status"] == "CONVERSATION_STATUS_CLOSED"

        # Closing a closed conversation changes nothing: no second survey, no second mail.
        _close(http, team, conversation)
        surveys = ok(
            http.get("/v1/csatSurveys", headers=team.headers, params={"conversation": conversation})
        )["csatSurveys"]
        assert [s["name"] for s in surveys] == [survey]
        assert len(_mailbox_to(mailbox, customer)) == 1


def test_with_the_setting_off_closing_sends_nothing(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Sin Encuestas", working_language="en")
        assert (
            ok(http.get("/v1/messagingSettings", headers=team.headers)).get(
                "sendCsatOnClose", False
            )
            is False
        )
        conversation = customer_writes(http, team, "sin@example.es", "Hola, gracias.")[
            "conversation"
        ]
        _close(http, team, conversation)
        # Nothing to wait for when nothing happens: wait instead for a later close of the
        # same stream to be handled, one of another tenant whose setting is on (the
        # consumer reads a tenant's setting when it handles the event).
        other = sign_up(http, "Con Encuestas", working_language="en")
        _send_csat_on_close(http, other)
        later = customer_writes(http, other, "luego@example.es", "Hola otra vez.")["conversation"]
        _close(http, other, later)
        eventually(
            lambda: ok(
                http.get("/v1/csatSurveys", headers=other.headers, params={"conversation": later})
            ).get("csatSurveys"),
            timeout=60,
            what="the survey of the other tenant's conversation",
        )
        first = ok(
            http.get("/v1/csatSurveys", headers=team.headers, params={"conversation": conversation})
        )
        assert first.get("csatSurveys", []) == []
