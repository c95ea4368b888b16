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


def test_each_intent_appears_once_and_names_its_keyword_set(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        team = sign_up(http, "Intent Desk", working_language="en")
        message = _ingest(http, team.headers, "Quiero un reembolso, el paquete no llegó")
        assert message["language"] == "es"
        names = [i["intent"] for i in message["intents"]]
        assert names.count("refund") == 1, names
        assert len(names) == len(set(names)), names
        refund = next(i for i in message["intents"] if i["intent"] == "refund")
        assert refund["keywordSet"].startswith("intentKeywordSets/"), refund
        assert "reembolso" in refund["matchedKeywords"]
        keyword_set = ok(http.get(f"/v1/{refund['keywordSet']}", headers=team.headers))
        assert keyword_set["intent"] == "refund"


def test_a_refund_request_is_negative_in_any_language(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        team = sign_up(http, "Sentiment Desk", working_language="en")
        for text, language in [
            ("Quiero un reembolso", "es"),  # VADER read the translation as 0.077: POSITIVE
            ("I want a refund", "en"),
            ("Ich möchte eine Rückerstattung, das Paket ist kaputt", "de"),  # no de->en engine
            ("谢谢,问题解决了,非常满意", "zh"),
        ]:
            message = _ingest(http, team.headers, text)
            assert message["language"] == language, message
            expected = "POSITIVE" if language == "zh" else "NEGATIVE"
            assert message["sentiment"]["label"] == f"SENTIMENT_LABEL_{expected}", message


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
