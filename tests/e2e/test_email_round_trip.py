"""The e-mail round trip through Envoy: a Spanish mail arrives through the public inbound
route, an English-speaking agent finds it unread and answers in English, the customer
receives Spanish over SMTP (a real aiosmtpd server started here) with the order number
byte for byte, and the conversation is REPLIED with its follow-ups reset."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up

pytestmark = pytest.mark.e2e

ORDER = "58213"
INBOUND_SECRET = "mail-gateway-secret-0123456789"


class Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def api_key(http: httpx.Client, team: Session, name: str) -> str:
    """A tenant API key the channel ingests as (messages.ingest, customers.resolve_identity,
    translation.use; data scope ALL)."""
    created = ok(
        http.post(
            "/v1/apiKeys",
            headers=team.headers,
            json={"displayName": name, "role": "roles/admin"},
        )
    )
    return str(created["secret"])


def email_config(
    http: httpx.Client, team: Session, smtp_port: int, address: str, display_name: str
) -> dict[str, Any]:
    """An e-mail channel config: inbound posted with INBOUND_SECRET and ingested as a new
    API key, outbound through the test's SMTP server on ``smtp_port`` from ``address``."""
    return ok(
        http.post(
            "/v1/channelConfigs",
            headers=team.headers,
            json={
                "displayName": display_name,
                "channel": "CHANNEL_EMAIL",
                "address": address,
                "secrets": {
                    "inboundSecret": INBOUND_SECRET,
                    "ingestApiKey": api_key(http, team, "mail gateway"),
                    "smtpHost": "127.0.0.1",
                    "smtpPort": smtp_port,
                    "smtpSecurity": "SMTP_SECURITY_NONE",
                    "fromAddress": address,
                },
            },
        )
    )


def _spanish_mail(message_id: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Lucía Fernández <lucia@example.es>"
    mail["To"] = "support@shop.test"
    mail["Subject"] = f"Pedido {ORDER}"
    mail["Message-ID"] = message_id
    mail.set_content(
        f"Hola, mi pedido {ORDER} no ha llegado todavía. ¿Dónde está?\n\n"
        "El lun, 7 dic 2026 a las 10:00, Tienda <support@shop.test> escribió:\n"
        "> Gracias por su compra\n"
    )
    mail.add_attachment(
        b"\x89PNG" + bytes(96), maintype="image", subtype="png", filename="caja.png"
    )
    return bytes(mail)


def test_a_spanish_mail_is_answered_in_english_and_received_in_spanish(
    stack: Stack, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Round Trip Outdoor", working_language="en")
        # Replies are sent at once whatever the back-translation scores (drafts are
        # tested on their own).
        ok(
            http.patch(
                "/v1/messagingSettings",
                headers=team.headers,
                params={"updateMask": "reply_similarity_threshold"},
                json={"replySimilarityThreshold": 0.0},
            )
        )
        config = email_config(http, team, port, "support@shop.test", "Soporte")
        assert "secrets" not in config
        assert INBOUND_SECRET not in str(config)
        assert set(config["secretsSet"]) >= {"inbound_secret", "ingest_api_key", "smtp_host"}

        # (1) The mail gateway posts the raw mail; no token, the inbound secret instead.
        message_id = f"<{uuid.uuid4()}@mail.example.es>"
        route = f"/v1/{config['name']}/email"
        refused = http.post(
            route,
            content=_spanish_mail(message_id),
            headers={"content-type": "message/rfc822", "x-crosstalk-inbound-secret": "wrong"},
        )
        assert refused.status_code == 401, refused.text
        receipt = ok(
            http.post(
                route,
                content=_spanish_mail(message_id),
                headers={
                    "content-type": "message/rfc822",
                    "x-crosstalk-inbound-secret": INBOUND_SECRET,
                },
            )
        )
        assert receipt.get("duplicate", False) is False
        again = ok(
            http.post(
                route,
                content=_spanish_mail(message_id),
                headers={
                    "content-type": "message/rfc822",
                    "x-crosstalk-inbound-secret": INBOUND_SECRET,
                },
            )
        )
        assert (again["message"], again["duplicate"]) == (receipt["message"], True)
        malformed = http.post(
            route,
            content=b"this is not a mail",
            headers={
                "content-type": "message/rfc822",
                "x-crosstalk-inbound-secret": INBOUND_SECRET,
            },
        )
        assert malformed.status_code == 400, malformed.text

        stored = ok(http.get(f"/v1/{receipt['message']}", headers=team.headers))
        assert stored["language"] == "es"
        assert stored["text"] == f"Hola, mi pedido {ORDER} no ha llegado todavía. ¿Dónde está?"
        assert stored["translatedLanguage"] == "en"
        assert [
            (a["name"], a["contentType"], int(a["sizeBytes"])) for a in stored["attachments"]
        ] == [("caja.png", "image/png", 100)]

        # (2) The agent lists unread conversations and answers in English.
        unread = ok(
            http.get(
                "/v1/conversations",
                headers=team.headers,
                params={"statuses": "CONVERSATION_STATUS_UNREAD"},
            )
        )
        names = [c["name"] for c in unread.get("conversations", [])]
        assert receipt["conversation"] in names
        before = ok(http.get(f"/v1/{receipt['conversation']}", headers=team.headers))
        assert int(before.get("followUps", 0)) == 1
        reply = ok(
            http.post(
                f"/v1/{receipt['conversation']}:sendReply",
                headers=team.headers,
                json={
                    "text": f"Your order {ORDER} was shipped yesterday.",
                    "requestId": str(uuid.uuid4()),
                },
            )
        )
        assert reply["translatedLanguage"] == "es"

        # (3) The customer receives Spanish, the order number byte for byte.
        mail_from, rcpt, raw = eventually(
            lambda: mailbox.received[0] if mailbox.received else None,
            timeout=30,
            what="the reply at the SMTP server",
        )
        assert rcpt == ["lucia@example.es"]
        assert mail_from == "support@shop.test"
        assert ORDER.encode() in raw
        received = message_from_bytes(raw, policy=policy.default)
        body = received.get_content().strip()
        assert body == reply["translatedText"]
        assert body != reply["text"]
        assert received["Content-Language"] == "es"
        assert received["In-Reply-To"] == message_id
        assert received["Subject"] == f"Re: Pedido {ORDER}"

        # (4) REPLIED, follow-ups reset, the message SENT.
        after = ok(http.get(f"/v1/{receipt['conversation']}", headers=team.headers))
        assert after["status"] == "CONVERSATION_STATUS_REPLIED"
        assert int(after.get("followUps", 0)) == 0
        sent = eventually(
            lambda: (
                m
                if (m := ok(http.get(f"/v1/{reply['name']}", headers=team.headers))).get(
                    "deliveryState"
                )
                == "DELIVERY_STATE_SENT"
                else None
            ),
            what="the reply's delivery state SENT",
        )
        assert sent["externalId"] == str(received["Message-ID"])
        assert len(mailbox.received) == 1
