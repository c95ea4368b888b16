"""What a rule's condition may name, per trigger."""

from __future__ import annotations

from crosstalk_common.conditions.model import FieldSpec, FieldType

CHANNELS = ("email", "phone", "whatsapp", "web_chat", "amazon", "ebay", "shopee")
# Conditions also accept the API's enum names ("CHANNEL_EMAIL"), read as "email".
CHANNEL_NAMES = {f"CHANNEL_{channel.upper()}": channel for channel in CHANNELS}

MESSAGE_FIELDS: dict[str, FieldSpec] = {
    "text": FieldSpec("text", FieldType.KEYWORDS_TEXT),
    "language": FieldSpec("language", FieldType.TEXT),
    "channel": FieldSpec(
        "channel", FieldType.ENUM, enum_values=CHANNELS, enum_aliases=CHANNEL_NAMES
    ),
    "store": FieldSpec("store", FieldType.TEXT),
    # From translation's analysis of the message (empty when it could not help).
    "translated_text": FieldSpec("translated_text", FieldType.KEYWORDS_TEXT),
    "sentiment": FieldSpec("sentiment", FieldType.NUMBER),
    "intents": FieldSpec("intents", FieldType.TAGS),
}

# Rules may hold larger trees than an ad-hoc filter.
MAX_RULE_CONDITIONS = 50
