"""What a rule's condition may name, per trigger."""

from __future__ import annotations

from crosstalk_common.conditions.model import FieldSpec, FieldType
from crosstalk_common.domain.channel import CHANNEL_ALIASES, CHANNEL_VALUES

MESSAGE_FIELDS: dict[str, FieldSpec] = {
    "text": FieldSpec("text", FieldType.KEYWORDS_TEXT),
    "language": FieldSpec("language", FieldType.TEXT),
    # A channel's value ("email"); the API's name ("CHANNEL_EMAIL") is read as it.
    "channel": FieldSpec(
        "channel", FieldType.ENUM, enum_values=CHANNEL_VALUES, enum_aliases=CHANNEL_ALIASES
    ),
    "store": FieldSpec("store", FieldType.TEXT),
    # From translation's analysis of the message (empty when it could not help).
    "translated_text": FieldSpec("translated_text", FieldType.KEYWORDS_TEXT),
    "sentiment": FieldSpec("sentiment", FieldType.NUMBER),
    "intents": FieldSpec("intents", FieldType.TAGS),
}

# Rules may hold larger trees than an ad-hoc filter.
MAX_RULE_CONDITIONS = 50
