"""The cross-border team's day, from /work/shared/seeds/000_318f622f2e041d0e.txt
(HelloGPT 企业版自动化客户管理与多语言协作实战指南).

The seed's case 1 (案例1:跨境电商团队): "不同国家客户语言沟通效率低" is solved by
"为主要市场预设语言模板,并配置自动翻译规则"; its chapter five asks that the system
"自动识别客户语言" and "自动翻译输入和输出消息", and that "快捷回复支持按关键词自动触发".

So: a buyer writes a logistics question in their own language with an order number;
the team (working language English) reads it translated, a keyword rule answers at
once with the shared template in the buyer's language, and the agent's own English
answer goes out in the buyer's language, the order number intact everywhere.

Spanish runs through the offline engine (Apertium eng<->spa). German and Chinese run
only when an engine for them is configured (an Argos model or an HTTP engine): no
offline engine for them installs from the package registries, so they are skipped
with that reason otherwise.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up
from tests.e2e.scenarios.steps import (
    customer_writes,
    leaf,
    matched_runs,
    outbound,
    save_rule,
    settled_run,
)

pytestmark = pytest.mark.e2e

ORDER = "DD202405001"

# language -> (the buyer's logistics question, a keyword of it)
BUYERS: dict[str, tuple[str, str]] = {
    "es": (f"Hola, ¿dónde está mi pedido {ORDER}? Lo necesito antes del viernes.", "pedido"),
    "de": (f"Hallo, wo ist meine Bestellung {ORDER}? Ich brauche sie bis Freitag.", "Bestellung"),
    "zh": (f"你好,我的订单 {ORDER} 到哪里了?我周五之前需要。", "订单"),
}

AUTO_REPLY = "Hello! Your order is on its way. The tracking number follows within one day."
AGENT_REPLY = f"Your order {ORDER} was shipped on May 2 and arrives in three working days."


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def team(http: httpx.Client) -> Session:
    return sign_up(http, "Cross-border Outdoor (60 people)", working_language="en")


def _engine_for(http: httpx.Client, team: Session, language: str) -> str | None:
    """The available engine translating English <-> language, if any is configured."""
    engines = ok(http.get("/v1/engines", headers=team.headers, params={"pageSize": 100}))
    for engine in engines.get("engines", []):
        pairs = {(p["sourceLanguage"], p["targetLanguage"]) for p in engine.get("pairs", [])}
        if engine.get("available") and {("en", language), (language, "en")} <= pairs:
            return str(engine["name"])
    return None


def _language_of(http: httpx.Client, team: Session, text: str) -> str:
    detected = ok(http.post("/v1/text:detectLanguage", headers=team.headers, json={"text": text}))
    return str(detected["language"])


def _answers_with(
    http: httpx.Client, team: Session, conversation: str, template: str
) -> list[dict[str, Any]]:
    """The conversation's outbound messages written from ``template`` (the team's other
    keyword rules may answer the same question with their own templates)."""
    return [m for m in outbound(http, team, conversation) if m.get("template") == template]


def _skip_without_engine(http: httpx.Client, team: Session, language: str) -> None:
    if _engine_for(http, team, language) is None:
        pytest.skip(
            f"no translation engine for en<->{language} is configured (no offline engine "
            "for it installs from the package registries: set TRANSLATION_ARGOS_MODELS_DIR "
            "to an Argos model or configure an HTTP engine)"
        )


@pytest.mark.parametrize("language", ["es", "de", "zh"])
def test_a_buyers_logistics_question_is_read_and_answered_in_their_language(
    http: httpx.Client, team: Session, language: str
) -> None:
    _skip_without_engine(http, team, language)
    question, _ = BUYERS[language]

    inbound = customer_writes(http, team, f"buyer-{uuid.uuid4().hex[:8]}@shop.{language}", question)

    # The language is recognised and the team reads the question in English.
    assert inbound["language"] == language, inbound
    assert inbound["translatedLanguage"] == "en", inbound
    assert ORDER in inbound["translatedText"], inbound
    assert inbound["translatedText"] != question
    conversation = inbound["conversation"]

    # The agent answers in English; the buyer gets it in their language, order intact.
    sent = ok(
        http.post(
            f"/v1/{conversation}:sendReply",
            headers=team.headers,
            json={"text": AGENT_REPLY, "requestId": str(uuid.uuid4())},
        )
    )
    assert sent["text"] == AGENT_REPLY
    assert sent["translatedLanguage"] == language, sent
    assert ORDER in sent["translatedText"], sent  # byte for byte
    assert _language_of(http, team, sent["translatedText"]) == language, sent
    assert sent["translationCheck"]["similarity"] > 0, sent
    if sent["deliveryState"] == "DELIVERY_STATE_DRAFT":  # held below the threshold: confirm
        sent = ok(http.post(f"/v1/{sent['name']}:confirm", headers=team.headers, json={}))
    assert sent["deliveryState"] != "DELIVERY_STATE_DRAFT", sent
    replied = ok(http.get(f"/v1/{conversation}", headers=team.headers))
    assert replied["status"] == "CONVERSATION_STATUS_REPLIED"
    assert replied["language"] == language
    assert replied.get("followUps", 0) == 0


@pytest.mark.parametrize("language", ["es", "de", "zh"])
def test_a_keyword_rule_answers_at_once_with_the_template_in_their_language(
    http: httpx.Client, team: Session, language: str
) -> None:
    _skip_without_engine(http, team, language)
    question, keyword = BUYERS[language]
    template = ok(
        http.post(
            "/v1/replyTemplates",
            headers=team.headers,
            json={
                "displayName": f"Logistics ({language})",
                "category": "ORDER_LOGISTICS",
                "bodies": [{"language": "en", "text": AUTO_REPLY}],
                "defaultLanguage": "en",
                "visibility": "TEMPLATE_VISIBILITY_SHARED",
            },
        )
    )
    rule = save_rule(
        http,
        team,
        {
            "displayName": f"Logistics question in {language}: answer at once",
            "trigger": "TRIGGER_MESSAGE_RECEIVED",
            "condition": leaf("message.text", "MATCHES_KEYWORDS", keyword),
            "actions": [
                {
                    "replyWithTemplate": {
                        "template": template["name"],
                        "translateToCustomerLanguage": True,
                    }
                }
            ],
        },
    )

    inbound = customer_writes(http, team, f"auto-{uuid.uuid4().hex[:8]}@shop.{language}", question)
    conversation = inbound["conversation"]

    (run,) = eventually(
        lambda: matched_runs(http, team, rule["name"], customer=inbound["customer"]),
        timeout=30,
        what="the logistics rule fired",
    )
    settled = settled_run(http, team, rule["name"], run["name"])
    assert settled["actionResults"][0]["status"] == "ACTION_STATUS_SUCCEEDED", settled
    (auto,) = eventually(
        lambda: _answers_with(http, team, conversation, template["name"]),
        what="the automatic answer stored",
    )
    auto_text = auto.get("translatedText") or auto["text"]
    assert (auto.get("translatedLanguage") or auto["language"]) == language, auto
    assert auto_text != AUTO_REPLY, auto
    assert _language_of(http, team, auto_text) == language, auto_text


# The market's preset template bodies (为主要市场预设语言模板), written by the team.
PRESET_BODIES = {
    "es": "¡Hola! Su pedido está en camino. El número de seguimiento llega en un día.",
    "de": "Hallo! Ihre Bestellung ist unterwegs. Die Sendungsnummer folgt innerhalb eines Tages.",
    "zh": "您好!您的订单已在路上,物流单号将在一天内发送给您。",
}


@pytest.mark.parametrize("language", ["es", "de", "zh"])
def test_a_keyword_rule_answers_at_once_with_the_markets_preset_template(
    http: httpx.Client, team: Session, language: str
) -> None:
    question, keyword = BUYERS[language]
    template = ok(
        http.post(
            "/v1/replyTemplates",
            headers=team.headers,
            json={
                "displayName": f"Logistics preset ({language})",
                "category": "ORDER_LOGISTICS",
                "bodies": [
                    {"language": "en", "text": AUTO_REPLY},
                    {"language": language, "text": PRESET_BODIES[language]},
                ],
                "defaultLanguage": "en",
                "visibility": "TEMPLATE_VISIBILITY_SHARED",
            },
        )
    )
    rule = save_rule(
        http,
        team,
        {
            "displayName": f"Logistics question in {language}: the market's template",
            "trigger": "TRIGGER_MESSAGE_RECEIVED",
            "condition": leaf("message.text", "MATCHES_KEYWORDS", keyword),
            "actions": [{"replyWithTemplate": {"template": template["name"]}}],
        },
    )

    inbound = customer_writes(
        http, team, f"preset-{uuid.uuid4().hex[:8]}@shop.{language}", question
    )
    assert inbound["language"] == language, inbound

    (run,) = eventually(
        lambda: matched_runs(http, team, rule["name"], customer=inbound["customer"]),
        timeout=30,
        what="the logistics rule fired",
    )
    settled = settled_run(http, team, rule["name"], run["name"])
    assert settled["actionResults"][0]["status"] == "ACTION_STATUS_SUCCEEDED", settled
    (auto,) = eventually(
        lambda: _answers_with(http, team, inbound["conversation"], template["name"]),
        what="the automatic answer",
    )
    assert auto["text"] == PRESET_BODIES[language], auto
    assert auto["language"] == language, auto
    assert auto["template"] == template["name"], auto
