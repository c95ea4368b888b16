"""The outbound columns of a messages row (migration 0004) to and from the domain, shared
by every repository that reads or writes messages."""

from __future__ import annotations

from typing import Any

from messaging.domain.model import DeliveryState, Message, TranslationCheck


def outbound_fields(row: Any) -> dict[str, Any]:
    """Message keyword arguments for a row's template, delivery and translation check."""
    check = (
        TranslationCheck(
            row.back_translated_text,
            float(row.similarity),
            float(row.similarity_threshold or 0.0),
            row.translation_engine,
        )
        if row.similarity is not None
        else None
    )
    return {
        "template": row.template,
        "template_version": int(row.template_version or 0),
        "delivery_state": DeliveryState(row.delivery_state) if row.delivery_state else None,
        "delivery_error": row.delivery_error,
        "translation_check": check,
        "request_id": row.request_id,
        "cause_event_id": row.cause_event_id,
    }


def outbound_values(message: Message) -> dict[str, Any]:
    """The row values of a message's template, delivery and translation check."""
    check = message.translation_check
    return {
        "template": message.template,
        "template_version": message.template_version,
        "delivery_state": message.delivery_state.value if message.delivery_state else None,
        "delivery_error": message.delivery_error,
        "similarity": check.similarity if check else None,
        "similarity_threshold": check.threshold if check else None,
        "back_translated_text": check.back_translated_text if check else "",
        "translation_engine": check.engine if check else "",
        "request_id": message.request_id,
        "cause_event_id": message.cause_event_id,
    }
