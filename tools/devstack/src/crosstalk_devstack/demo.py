"""The demo tenant `make run` seeds (once; later runs find it in var/demo.json).

A new user who signs in finds a working inbox, not an empty one: the refund rule,
and a handful of buyers' first messages from several channels and languages, each
through the same ingest a channel adapter uses (so each made its customer, was
understood and translated, counted by reporting, and matched against the rule).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

DEMO_EMAIL = "demo@crosstalk.test"
DEMO_PASSWORD = "paper-lantern-harbour-2026"  # noqa: S105 - the documented local demo login
DEMO_SHOP_ADDRESS = "support@demo-shop.test"


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        request = response.request
        raise RuntimeError(
            f"{request.method} {request.url}: {response.status_code} {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def login(http: httpx.Client, email: str, password: str) -> str:
    """A fresh access token for the demo admin."""
    tokens = _check(http.post("/v1/auth:login", json={"email": email, "password": password}))
    return str(tokens["accessToken"])


def keyword_tag_rule(display_name: str, keywords: list[str], tag: str) -> dict[str, Any]:
    """The REST body of an enabled rule: a received message whose text holds one
    of the keywords gets its customer the tag."""
    return {
        "displayName": display_name,
        "trigger": "TRIGGER_MESSAGE_RECEIVED",
        "enabled": True,
        "condition": {
            "leaf": {"field": "text", "operator": "OPERATOR_MATCHES_KEYWORDS", "values": keywords}
        },
        "actions": [{"addTag": {"tags": [tag]}}],
    }


# Buyers' first messages: (channel, address, display name, subject, text). Spanish
# and French translate offline into the working language (English); German and
# Vietnamese have no offline pair, so they show what an untranslated message looks
# like (their language is still detected, and the rule still reads German).
DEMO_MESSAGES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "CHANNEL_EMAIL",
        "lucia.fernandez@correo.test",
        "Lucía Fernández",
        "Auriculares rotos",
        "Hola, los auriculares llegaron rotos. Quiero un reembolso, por favor.",
    ),
    (
        "CHANNEL_AMAZON",
        "amzn-buyer-7f3k2q",
        "Camille Martin",
        "",
        "Bonjour, quand est-ce que ma commande sera livrée ? Merci beaucoup.",
    ),
    (
        "CHANNEL_SHOPEE",
        "shopee-nguyen-84",
        "Nguyễn Thị Hoa",
        "",
        "Xin chào, khi nào đơn hàng của tôi được giao? Cảm ơn bạn.",
    ),
    (
        "CHANNEL_EBAY",
        "ebay-kmueller",
        "Klaus Müller",
        "",
        "Hallo, ich möchte eine Rückerstattung für meine Bestellung.",
    ),
    (
        "CHANNEL_EMAIL",
        "sam.taylor@mail.test",
        "Sam Taylor",
        "Charger stock",
        "Hi, is the 65 W USB-C charger back in stock? I would order ten.",
    ),
)


def demo_mail_channel(http: httpx.Client, headers: dict[str, str], smtp_port: int) -> str:
    """An e-mail channel config sending through the demo mailbox on ``smtp_port``
    (127.0.0.1, no TLS); its name."""
    created = _check(
        http.post(
            "/v1/channelConfigs",
            headers=headers,
            json={
                "displayName": "Demo Cross-Border Shop",
                "channel": "CHANNEL_EMAIL",
                "address": DEMO_SHOP_ADDRESS,
                "secrets": {
                    "smtpHost": "127.0.0.1",
                    "smtpPort": smtp_port,
                    "smtpSecurity": "SMTP_SECURITY_NONE",
                    "fromAddress": DEMO_SHOP_ADDRESS,
                },
            },
        )
    )
    return str(created["name"])


def ingest_demo_messages(
    http: httpx.Client, headers: dict[str, str], mail_channel: str = ""
) -> list[dict[str, Any]]:
    """Each of DEMO_MESSAGES ingested once (its external id makes a repeat a no-op),
    the e-mails through ``mail_channel`` when given (replies are then sent through
    it); the ingest answers, in order."""
    answers = []
    for n, (channel, address, name, subject, text) in enumerate(DEMO_MESSAGES, start=1):
        body = {
            "sender": {"channel": channel, "externalId": address},
            "senderDisplayName": name,
            "subject": subject,
            "text": text,
            # An e-mail's id on its channel is its Message-ID (replies thread on it).
            "externalId": f"<demo-{n}@mail.demo.test>"
            if channel == "CHANNEL_EMAIL"
            else f"demo-{n}",
        }
        if mail_channel and channel == "CHANNEL_EMAIL":
            body["channelConfig"] = mail_channel
        answers.append(_check(http.post("/v1/messages:ingest", headers=headers, json=body)))
    return answers


def seed_demo(gateway_url: str, state_file: Path, smtp_port: int | None = None) -> dict[str, Any]:
    """Sign up the demo tenant, its rule and its buyers' messages, once (``state_file``
    remembers it). With ``smtp_port``, its e-mail conversations are bound to a channel
    sending through the demo mailbox there."""
    if state_file.exists():
        return dict(json.loads(state_file.read_text()))
    with httpx.Client(base_url=gateway_url, timeout=10) as http:
        signed_up = _check(
            http.post(
                "/v1/tenants:signUp",
                json={
                    "companyName": "Demo Cross-Border Shop",
                    "industry": "consumer electronics",
                    "teamSize": 8,
                    # English: the offline Apertium pairs translate Spanish, French and
                    # Portuguese into it. Chinese needs an Argos model or an HTTP engine.
                    "workingLanguage": "en",
                    "adminEmail": DEMO_EMAIL,
                    "adminDisplayName": "Demo Admin",
                    "adminPassword": DEMO_PASSWORD,
                },
            )
        )
        tenant_id = signed_up["tenant"]["name"].removeprefix("tenants/")
        headers = {"authorization": f"Bearer {login(http, DEMO_EMAIL, DEMO_PASSWORD)}"}
        _check(
            http.post(
                "/v1/rules",
                headers=headers,
                json=keyword_tag_rule(
                    "Refund requests go to after-sales",
                    ["refund", "退款", "Rückerstattung", "reembolso"],
                    "after-sales",
                ),
            )
        )
        mail_channel = "" if smtp_port is None else demo_mail_channel(http, headers, smtp_port)
        ingest_demo_messages(http, headers, mail_channel)
    state = {"tenant_id": tenant_id, "email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state, indent=2))
    return state
