"""The message that sends a customer their CSAT survey link when a conversation closes:
one text per language messaging ships, the customer's language where there is one
(the same tag, else the same language), English otherwise."""

from __future__ import annotations

import uuid

from messaging.domain.language_tags import best_match

FALLBACK_LANGUAGE = "en"
SENT_BY = "system"
_REQUEST_IDS = uuid.UUID("0b7f3f0e-2c1d-4f57-8a51-6f0d1b9e4c21")

# {link} is the survey's address with its one-time token.
INVITATIONS: dict[str, str] = {
    "en": "Thank you for contacting us. How did we do? Rate this conversation here: {link}",
    "es": "Gracias por escribirnos. ¿Qué tal lo hicimos? Valore esta conversación aquí: {link}",
    "de": "Danke für Ihre Nachricht. Wie waren wir? Bewerten Sie dieses Gespräch hier: {link}",
    "fr": "Merci de nous avoir écrit. Comment était notre aide ? Notez cette conversation "
    "ici : {link}",
    "it": "Grazie per averci scritto. Com'è andata? Valuti questa conversazione qui: {link}",
    "pt": "Obrigado pelo contacto. Como nos saímos? Avalie esta conversa aqui: {link}",
    "nl": "Bedankt voor uw bericht. Hoe hebben we het gedaan? Beoordeel dit gesprek hier: {link}",
    "zh": "感谢您联系我们。您对本次服务满意吗?请在这里为本次对话评分:{link}",
    "ja": "お問い合わせありがとうございました。今回の対応はいかがでしたか?"
    "こちらから評価をお願いします:{link}",
    "ko": "문의해 주셔서 감사합니다. 상담은 어떠셨나요? 여기에서 이번 대화를 평가해 주세요: {link}",
    "ru": "Спасибо за обращение. Как мы справились? Оцените этот разговор здесь: {link}",
}


def invitation(language: str, link: str) -> tuple[str, str]:
    """The text in ``language`` when messaging has one, else in English, and its language."""
    chosen = best_match(language, INVITATIONS) if language else None
    used = chosen or FALLBACK_LANGUAGE
    return INVITATIONS[used].format(link=link), used


def survey_link(base: str, survey_id: str, token: str) -> str:
    """``{base}/{survey id}?token={token}`` (the token is URL-safe: base64url and dots)."""
    return f"{base.rstrip('/')}/{survey_id}?token={token}"


def invitation_request_id(tenant_id: str, survey_id: str) -> str:
    """The invitation's request id: one message per survey, whatever retries happen."""
    return str(uuid.uuid5(_REQUEST_IDS, f"{tenant_id}/{survey_id}"))
