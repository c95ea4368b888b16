"""Reply templates and CSAT through Envoy: rendering for a Spanish customer (machine
translated, the order number intact), versions and rollback, a one-time CSAT token on the
public route, tenant isolation, bad input naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
ORDER_NUMBER = "ES-2024-00042"

SHIPPED: dict[str, Any] = {
    "displayName": "Order shipped",
    "category": "shipping",
    "bodies": [
        {"language": "en", "text": "Hello {{name}}, your order {{order_number}} has shipped."},
        {
            "language": "de",
            "text": "Hallo {{name}}, Ihre Bestellung {{order_number}} ist unterwegs.",
        },
    ],
    "defaultLanguage": "en",
    "variables": [
        {"key": "name", "sourceField": "customer.display_name", "defaultValue": "there"},
        {"key": "order_number", "sourceField": "order.external_id"},
    ],
}


def _violations(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["code"] == 3  # INVALID_ARGUMENT
    return [
        v["field"]
        for detail in body.get("details", [])
        if detail["@type"] == BAD_REQUEST
        for v in detail["fieldViolations"]
    ]


def _spanish_customer_with_an_order(http: httpx.Client, team: Session) -> str:
    customer = ok(
        http.post(
            "/v1/customers",
            headers=team.headers,
            json={"displayName": "Ana Ruiz", "language": "es", "emails": ["ana@example.es"]},
        )
    )
    ok(
        http.post(
            f"/v1/{customer['name']}/orders",
            headers=team.headers,
            json={
                "externalId": ORDER_NUMBER,
                "store": "shop-es",
                "amount": {"currencyCode": "EUR", "units": "59", "nanos": 900000000},
                "itemCount": 2,
                "orderTime": "2026-12-01T10:00:00Z",
            },
        )
    )
    return str(customer["name"])


def test_a_template_renders_machine_translated_for_a_spanish_customer(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Template Desk", working_language="en")
        template = ok(http.post("/v1/replyTemplates", headers=team.headers, json=SHIPPED))
        assert template["version"] == 1
        assert template["visibility"] == "TEMPLATE_VISIBILITY_PRIVATE"
        customer = _spanish_customer_with_an_order(http, team)

        rendered = ok(
            http.post(
                f"/v1/{template['name']}:render",
                headers=team.headers,
                json={"customer": customer, "translateIfMissing": True},
            )
        )
        assert rendered["language"] == "es"
        assert rendered["machineTranslated"] is True
        assert rendered["templateVersion"] == 1
        assert rendered.get("missingVariables", []) == []
        text = rendered["text"]
        assert ORDER_NUMBER in text, text  # byte for byte
        assert "Ana Ruiz" in text, text
        assert "Hola" in text, text  # Apertium eng->spa
        assert "has shipped" not in text, text

        # A body in the wanted language is used as written; a missing value is reported.
        german = ok(
            http.post(
                f"/v1/{template['name']}:render",
                headers=team.headers,
                json={"language": "de-AT", "variables": {"name": "Hans"}},
            )
        )
        assert german["text"] == "Hallo Hans, Ihre Bestellung {{order_number}} ist unterwegs."
        assert german["machineTranslated"] is False
        assert german["missingVariables"] == ["order_number"]

        # Without translateIfMissing a language without a body is refused.
        refused = http.post(
            f"/v1/{template['name']}:render", headers=team.headers, json={"customer": customer}
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == 9  # FAILED_PRECONDITION


def test_every_change_is_a_version_and_a_rollback_restores_one(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Versions Desk", working_language="en")
        v1 = ok(http.post("/v1/replyTemplates", headers=team.headers, json=SHIPPED))
        v2 = ok(
            http.patch(
                f"/v1/{v1['name']}",
                headers=team.headers,
                params={"updateMask": "bodies"},
                json={
                    "etag": v1["etag"],
                    "bodies": [{"language": "en", "text": "Hi {{name}}, it is on its way."}],
                },
            )
        )
        assert v2["version"] == 2
        assert [b["language"] for b in v2["bodies"]] == ["en"]
        stale = http.patch(
            f"/v1/{v1['name']}",
            headers=team.headers,
            params={"updateMask": "category"},
            json={"etag": v1["etag"], "category": "late"},
        )
        assert stale.status_code == 409, stale.text  # ABORTED: the etag moved on

        versions = ok(http.get(f"/v1/{v1['name']}/versions", headers=team.headers))
        listed = versions["replyTemplateVersions"]
        assert [v["name"] for v in listed] == [
            f"{v1['name']}/versions/2",
            f"{v1['name']}/versions/1",
        ]
        assert listed[1]["replyTemplate"]["bodies"] == v1["bodies"]
        assert listed[0]["author"].startswith("members/")

        v3 = ok(
            http.post(
                f"/v1/{v1['name']}:rollback",
                headers=team.headers,
                json={"version": 1, "etag": v2["etag"]},
            )
        )
        assert v3["version"] == 3
        assert v3["bodies"] == v1["bodies"]
        newest = ok(http.get(f"/v1/{v1['name']}/versions", headers=team.headers))[
            "replyTemplateVersions"
        ][0]
        assert newest["restoredFromVersion"] == 1
        # Rendering an old version renders it as it was.
        old = ok(
            http.post(
                f"/v1/{v1['name']}:render",
                headers=team.headers,
                json={"language": "en", "version": 2, "variables": {"name": "Li"}},
            )
        )
        assert (old["text"], old["templateVersion"]) == ("Hi Li, it is on its way.", 2)

        # The reply written from it records the template and the version rendered.
        reply = ok(
            http.post(
                f"/v1/{_conversation(http, team)}:sendReply",
                headers=team.headers,
                json={
                    "text": old["text"],
                    "skipTranslation": True,
                    "template": v1["name"],
                    "templateVersion": old["templateVersion"],
                },
            )
        )
        assert (reply["template"], reply["templateVersion"]) == (v1["name"], 2)


def _conversation(http: httpx.Client, team: Session) -> str:
    message = ok(
        http.post(
            "/v1/messages:ingest",
            headers=team.headers,
            json={
                "sender": {"channel": "CHANNEL_EMAIL", "externalId": f"{uuid.uuid4().hex}@ex.es"},
                "text": "Gracias, todo bien",
            },
        )
    )
    return str(message["conversation"])


def test_a_csat_token_answers_once_through_the_public_route(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Survey Desk", working_language="en")
        conversation = _conversation(http, team)
        survey = ok(
            http.post(
                "/v1/csatSurveys",
                headers=team.headers,
                json={
                    "conversation": conversation,
                    "questions": [
                        {
                            "key": "speed",
                            "kind": "CSAT_QUESTION_KIND_SCORE",
                            "required": True,
                            "texts": [
                                {"language": "en", "text": "How fast did we answer?"},
                                {"language": "es", "text": "¿Qué tan rápido respondimos?"},
                            ],
                        },
                        {
                            "key": "anything_else",
                            "kind": "CSAT_QUESTION_KIND_TEXT",
                            "texts": [{"language": "es", "text": "¿Algo más?"}],
                        },
                    ],
                },
            )
        )
        assert survey["state"] == "CSAT_SURVEY_STATE_SENT"
        token = survey["answerToken"]
        assert token
        fetched = ok(http.get(f"/v1/{survey['name']}", headers=team.headers))
        assert fetched.get("answerToken", "") == ""  # returned by Create only

        # The page behind the link reads the questions in the customer's language.
        form = ok(http.get(f"/v1/{survey['name']}/form", params={"token": token}))
        assert form["language"] == "es"
        assert form["state"] == "CSAT_SURVEY_STATE_SENT"
        assert [q["text"] for q in form["questions"]] == [
            "¿Qué tan rápido respondimos?",
            "¿Algo más?",
        ]
        assert "customer" not in form
        denied = http.get(f"/v1/{survey['name']}/form", params={"token": token[:-4] + "AAAA"})
        assert denied.status_code == 401, denied.text

        submit = f"/v1/{survey['name']}:submit"
        answer = {
            "token": token,
            "score": 5,
            "comment": "Muy rápido",
            "answers": [
                {"question": "speed", "score": 5},
                {"question": "anything_else", "text": "No"},
            ],
        }
        # No access token needed; a bad survey token is refused and stores nothing.
        forged = http.post(submit, json={**answer, "token": token[:-4] + "AAAA"})
        assert forged.status_code == 401, forged.text
        assert ok(http.get(f"/v1/{survey['name']}", headers=team.headers))["state"] == (
            "CSAT_SURVEY_STATE_SENT"
        )
        missing = http.post(submit, json={**answer, "answers": []})
        assert "answers" in _violations(missing)

        answered = ok(http.post(submit, json=answer))
        assert answered["state"] == "CSAT_SURVEY_STATE_ANSWERED"
        assert answered["score"] == 5
        assert {a["question"] for a in answered["answers"]} == {"speed", "anything_else"}

        again = http.post(submit, json={**answer, "score": 1})
        assert again.status_code == 400, again.text
        assert again.json()["code"] == 9  # FAILED_PRECONDITION: the token was used
        stored = ok(http.get(f"/v1/{survey['name']}", headers=team.headers))
        assert (stored["score"], stored["comment"]) == (5, "Muy rápido")
        answered_form = ok(http.get(f"/v1/{survey['name']}/form", params={"token": token}))
        assert answered_form["state"] == "CSAT_SURVEY_STATE_ANSWERED"

        listed = ok(
            http.get(
                "/v1/csatSurveys",
                headers=team.headers,
                params={"state": "CSAT_SURVEY_STATE_ANSWERED"},
            )
        )["csatSurveys"]
        assert [s["name"] for s in listed] == [survey["name"]]


def test_tenants_see_only_their_own_templates_and_surveys(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        a = sign_up(http, "Tenant A Templates", working_language="en")
        b = sign_up(http, "Tenant B Templates", working_language="en")
        template = ok(
            http.post(
                "/v1/replyTemplates",
                headers=a.headers,
                json={**SHIPPED, "visibility": "TEMPLATE_VISIBILITY_SHARED"},
            )
        )
        survey = ok(
            http.post(
                "/v1/csatSurveys", headers=a.headers, json={"conversation": _conversation(http, a)}
            )
        )
        for path in (
            f"/v1/{template['name']}",
            f"/v1/{template['name']}/versions",
            f"/v1/{survey['name']}",
        ):
            response = http.get(path, headers=b.headers)
            assert response.status_code == 404, f"{path}: {response.status_code} {response.text}"
        render = http.post(
            f"/v1/{template['name']}:render", headers=b.headers, json={"language": "en"}
        )
        assert render.status_code == 404, render.text
        assert ok(http.get("/v1/replyTemplates", headers=b.headers)).get("replyTemplates", []) == []
        assert ok(http.get("/v1/csatSurveys", headers=b.headers)).get("csatSurveys", []) == []
        foreign = http.post(
            "/v1/csatSurveys", headers=b.headers, json={"conversation": survey["conversation"]}
        )
        assert foreign.status_code == 404, foreign.text


def test_bad_input_is_a_400_naming_the_field(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Bad Input Templates", working_language="en")
        bad_template = {
            **SHIPPED,
            "bodies": [
                {"language": "en", "text": "Hi {{nmae}}"},
                {"language": "EN", "text": "again"},
                {"language": "english!", "text": "x"},
            ],
        }
        fields = _violations(
            http.post("/v1/replyTemplates", headers=team.headers, json=bad_template)
        )
        assert "reply_template.bodies[0].text" in fields
        assert "reply_template.bodies[1].language" in fields
        assert "reply_template.bodies[2].language" in fields
        assert (
            ok(http.get("/v1/replyTemplates", headers=team.headers)).get("replyTemplates", []) == []
        )

        template = ok(http.post("/v1/replyTemplates", headers=team.headers, json=SHIPPED))
        fields = _violations(
            http.post(
                f"/v1/{template['name']}:render",
                headers=team.headers,
                json={"variables": {"coupon": "X"}},
            )
        )
        assert fields == ['variables["coupon"]']
        fields = _violations(
            http.post(
                "/v1/csatSurveys",
                headers=team.headers,
                json={
                    "conversation": _conversation(http, team),
                    "language": "not a language",
                    "questions": [{"key": "Bad Key", "kind": "CSAT_QUESTION_KIND_SCORE"}],
                },
            )
        )
        assert set(fields) >= {
            "csat_survey.language",
            "csat_survey.questions[0].key",
            "csat_survey.questions[0].texts",
        }
