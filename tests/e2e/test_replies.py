"""Replies through Envoy: an English reply to a Spanish conversation goes out in Spanish
(Apertium eng->spa and back) with its similarity; below the tenant's threshold it is held as
a draft until confirmed; settings, translation settings and proactive messages; tenants
never reach each other's conversations; bad input names its fields."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
REPLY = "Your order ships today. Thank you for your patience."


def _spanish_conversation(http: httpx.Client, team: Session) -> dict[str, Any]:
    return ok(
        http.post(
            "/v1/messages:ingest",
            headers=team.headers,
            json={
                "sender": {
                    "channel": "CHANNEL_EMAIL",
                    "externalId": f"cliente-{uuid.uuid4().hex[:8]}@example.es",
                },
                "text": "Hola, ¿dónde está mi pedido? Lo compré hace dos semanas.",
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


def _set_threshold(http: httpx.Client, team: Session, threshold: float) -> dict[str, Any]:
    return ok(
        http.patch(
            "/v1/messagingSettings",
            headers=team.headers,
            params={"updateMask": "replySimilarityThreshold"},
            json={"replySimilarityThreshold": threshold},
        )
    )


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as client:
        yield client


@pytest.fixture(scope="module")
def team(http: httpx.Client) -> Session:
    return sign_up(http, "Reply Desk", working_language="en")


def test_an_english_reply_to_a_spanish_conversation_is_sent_in_spanish(
    http: httpx.Client, team: Session
) -> None:
    inbound = _spanish_conversation(http, team)
    assert inbound["language"] == "es"
    conversation = inbound["conversation"]

    sent = ok(
        http.post(
            f"/v1/{conversation}:sendReply",
            headers=team.headers,
            json={"text": REPLY, "requestId": str(uuid.uuid4())},
        )
    )

    assert sent["direction"] == "DIRECTION_OUTBOUND"
    assert sent["text"] == REPLY
    assert sent["language"] == "en"
    assert sent["translatedLanguage"] == "es"
    assert sent["translatedText"]
    assert sent["translatedText"] != REPLY
    check = sent["translationCheck"]
    assert 0.0 < check["similarity"] <= 1.0
    assert check["threshold"] == 0.6
    assert check["backTranslatedText"]
    assert check["engine"].startswith("apertium")
    assert sent["deliveryState"] in {
        "DELIVERY_STATE_QUEUED",
        "DELIVERY_STATE_SENT",
        "DELIVERY_STATE_FAILED",
    }
    assert sent["sentBy"].startswith("members/")
    stored = ok(http.get(f"/v1/{sent['name']}", headers=team.headers))
    assert stored["translationCheck"]["similarity"] == check["similarity"]
    assert stored["translatedText"] == sent["translatedText"]
    replied = ok(http.get(f"/v1/{conversation}", headers=team.headers))
    delivered = ok(http.get(f"/v1/{sent['name']}", headers=team.headers))["deliveryState"]
    # Replied; unless the delivery has failed meanwhile (no mail relay here), which
    # flags the conversation EXCEPTION after the failure is stored, read after it.
    assert (replied["status"], delivered) in {
        ("CONVERSATION_STATUS_REPLIED", delivered),
        ("CONVERSATION_STATUS_EXCEPTION", "DELIVERY_STATE_FAILED"),
    }
    assert replied.get("followUps", 0) == 0


def test_a_repeated_request_id_sends_once(http: httpx.Client, team: Session) -> None:
    conversation = _spanish_conversation(http, team)["conversation"]
    body = {"text": REPLY, "requestId": str(uuid.uuid4())}

    first = ok(http.post(f"/v1/{conversation}:sendReply", headers=team.headers, json=body))
    again = ok(http.post(f"/v1/{conversation}:sendReply", headers=team.headers, json=body))

    assert again["name"] == first["name"]


def test_below_the_threshold_a_reply_is_a_draft_until_confirmed(
    http: httpx.Client, team: Session
) -> None:
    conversation = _spanish_conversation(http, team)["conversation"]
    settings = _set_threshold(http, team, 1.0)
    assert settings["replySimilarityThreshold"] == 1.0
    try:
        draft = ok(
            http.post(f"/v1/{conversation}:sendReply", headers=team.headers, json={"text": REPLY})
        )
        assert draft["deliveryState"] == "DELIVERY_STATE_DRAFT"
        assert draft["translationCheck"]["similarity"] < 1.0
        assert draft["translationCheck"]["threshold"] == 1.0
        still = ok(http.get(f"/v1/{conversation}", headers=team.headers))
        assert still["status"] == "CONVERSATION_STATUS_UNREAD"

        confirmed = ok(http.post(f"/v1/{draft['name']}:confirm", headers=team.headers, json={}))

        assert confirmed["name"] == draft["name"]
        assert confirmed["deliveryState"] != "DELIVERY_STATE_DRAFT"
        assert confirmed["translatedText"] == draft["translatedText"]
        replied = ok(http.get(f"/v1/{conversation}", headers=team.headers))
        assert replied["status"] == "CONVERSATION_STATUS_REPLIED"
        twice = http.post(f"/v1/{draft['name']}:confirm", headers=team.headers, json={})
        assert twice.status_code == 400, twice.text  # FAILED_PRECONDITION: not a draft

        other = ok(
            http.post(f"/v1/{conversation}:sendReply", headers=team.headers, json={"text": REPLY})
        )
        assert other["deliveryState"] == "DELIVERY_STATE_DRAFT"
        gone = http.post(f"/v1/{other['name']}:discard", headers=team.headers, json={})
        assert gone.status_code == 200, gone.text
        assert http.get(f"/v1/{other['name']}", headers=team.headers).status_code == 404
    finally:
        _set_threshold(http, team, 0.6)


def test_skip_translation_and_a_customer_without_translation_send_as_written(
    http: httpx.Client, team: Session
) -> None:
    inbound = _spanish_conversation(http, team)
    conversation = inbound["conversation"]

    skipped = ok(
        http.post(
            f"/v1/{conversation}:sendReply",
            headers=team.headers,
            json={"text": "Gracias!", "skipTranslation": True},
        )
    )
    assert skipped["translatedText"] == ""
    assert "translationCheck" not in skipped

    setting = ok(
        http.post(
            "/v1/translationSettings:set",
            headers=team.headers,
            json={"subject": inbound["customer"], "mode": "TRANSLATION_MODE_OFF"},
        )
    )
    as_written = ok(
        http.post(f"/v1/{conversation}:sendReply", headers=team.headers, json={"text": REPLY})
    )
    assert as_written["translatedText"] == ""
    listed = ok(http.get("/v1/translationSettings", headers=team.headers))
    assert setting["name"] in {s["name"] for s in listed["translationSettings"]}
    assert http.delete(f"/v1/{setting['name']}", headers=team.headers).status_code == 200
    translated = ok(
        http.post(f"/v1/{conversation}:sendReply", headers=team.headers, json={"text": REPLY})
    )
    assert translated["translatedLanguage"] == "es"


def test_a_proactive_message_reaches_the_customer_in_their_language(
    http: httpx.Client, team: Session
) -> None:
    inbound = _spanish_conversation(http, team)

    sent = ok(
        http.post(
            "/v1/messages:sendProactive",
            headers=team.headers,
            json={"customer": inbound["customer"], "text": "Happy new year!"},
        )
    )

    assert sent["conversation"] == inbound["conversation"]
    assert sent["translatedLanguage"] == "es"
    assert sent["translatedText"]


def test_tenants_never_reach_each_others_conversations(http: httpx.Client, team: Session) -> None:
    conversation = _spanish_conversation(http, team)["conversation"]
    _set_threshold(http, team, 1.0)
    try:
        draft = ok(
            http.post(f"/v1/{conversation}:sendReply", headers=team.headers, json={"text": REPLY})
        )
    finally:
        _set_threshold(http, team, 0.6)
    other = sign_up(http, "Other Desk", working_language="en")

    for call in (
        lambda: http.post(
            f"/v1/{conversation}:sendReply", headers=other.headers, json={"text": REPLY}
        ),
        lambda: http.post(f"/v1/{draft['name']}:confirm", headers=other.headers, json={}),
        lambda: http.post(f"/v1/{draft['name']}:discard", headers=other.headers, json={}),
    ):
        response = call()
        assert response.status_code == 404, response.text
    theirs = ok(http.get("/v1/messagingSettings", headers=other.headers))
    assert theirs["replySimilarityThreshold"] == 0.6
    assert (
        ok(http.get("/v1/translationSettings", headers=other.headers)).get(
            "translationSettings", []
        )
        == []
    )
    still = ok(http.get(f"/v1/{draft['name']}", headers=team.headers))
    assert still["deliveryState"] == "DELIVERY_STATE_DRAFT"


def test_bad_input_names_its_fields(http: httpx.Client, team: Session) -> None:
    conversation = _spanish_conversation(http, team)["conversation"]

    assert _fields(
        http.post(
            f"/v1/{conversation}:sendReply",
            headers=team.headers,
            json={"text": " ", "language": "not a tag", "requestId": "nope"},
        )
    ) == {"text", "language", "request_id"}
    # A template the tenant does not have (deleted, mistyped, another tenant's) is not
    # recorded on the message.
    unknown = {"text": "Hola", "template": "replyTemplates/no-such-template"}
    assert _fields(
        http.post(f"/v1/{conversation}:sendReply", headers=team.headers, json=unknown)
    ) == {"template"}
    assert _fields(
        http.patch(
            "/v1/messagingSettings",
            headers=team.headers,
            params={"updateMask": "replySimilarityThreshold,maxInboundTextBytes"},
            json={"replySimilarityThreshold": 2, "maxInboundTextBytes": 5},
        )
    ) == {
        "messaging_settings.reply_similarity_threshold",
        "messaging_settings.max_inbound_text_bytes",
    }
    assert "translation_setting.subject" in _fields(
        http.post(
            "/v1/translationSettings:set",
            headers=team.headers,
            json={"subject": "members/x", "mode": "TRANSLATION_MODE_OFF"},
        )
    )
    assert "customer" in _fields(
        http.post("/v1/messages:sendProactive", headers=team.headers, json={"text": "Hi"})
    )


def test_oversized_inbound_text_is_refused_naming_text(http: httpx.Client, team: Session) -> None:
    ok(
        http.patch(
            "/v1/messagingSettings",
            headers=team.headers,
            params={"updateMask": "maxInboundTextBytes"},
            json={"maxInboundTextBytes": 2048},
        )
    )
    try:
        refused = http.post(
            "/v1/messages:ingest",
            headers=team.headers,
            json={
                "sender": {"channel": "CHANNEL_EMAIL", "externalId": "big@example.es"},
                "text": "ñ" * 1025,
            },
        )
        assert _fields(refused) == {"text"}
    finally:
        ok(
            http.patch(
                "/v1/messagingSettings",
                headers=team.headers,
                params={"updateMask": "maxInboundTextBytes"},
                json={"maxInboundTextBytes": 65536},
            )
        )
