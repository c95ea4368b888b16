"""An inbound message is understood: language, translation, sentiment, intents; rules use them."""

from __future__ import annotations

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up

pytestmark = pytest.mark.e2e


def _ingest(http: httpx.Client, headers: dict[str, str], text: str) -> dict[str, object]:
    return ok(
        http.post(
            "/v1/messages:ingest",
            headers=headers,
            json={
                "sender": {"channel": "CHANNEL_EMAIL", "externalId": "ana@example.es"},
                "text": text,
            },
        )
    )


def test_a_spanish_message_reaches_an_english_speaking_team_translated(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        team = sign_up(http, "English Desk", working_language="en")
        message = _ingest(http, team.headers, "Quiero un reembolso, el paquete llegó roto")
        assert message["language"] == "es"
        assert message["translatedLanguage"] == "en"
        assert message["translatedText"], "Apertium es->en should have translated it"
        assert message["translatedText"] != message["text"]


def test_rules_act_on_sentiment_and_intent(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        team = sign_up(http, "Rules On Feelings", working_language="en")
        for name, leaf in {
            "unhappy customers": {
                "field": "sentiment",
                "operator": "OPERATOR_LT",
                "values": ["-0.2"],
            },
            "refund intent": {
                "field": "intents",
                "operator": "OPERATOR_HAS_ANY_TAG",
                "values": ["refund"],
            },
        }.items():
            ok(
                http.post(
                    "/v1/rules",
                    headers=team.headers,
                    json={
                        "displayName": name,
                        "trigger": "TRIGGER_MESSAGE_RECEIVED",
                        "enabled": True,
                        "condition": {"leaf": leaf},
                        "actions": [{"addTag": {"tags": [name.split()[0]]}}],
                    },
                )
            )
        message = _ingest(http, team.headers, "This is terrible and broken, I want my money back!")
        assert message["language"] == "en"
        assert message["translatedText"] == ""  # already in the working language
        assert message["sentiment"]["label"] == "SENTIMENT_LABEL_NEGATIVE"
        assert "refund" in {i["intent"] for i in message["intents"]}
        eventually(
            lambda: ok(http.get("/v1/dashboard", headers=team.headers))["rulesFired"] == "2",
            what="both rules fired",
        )
