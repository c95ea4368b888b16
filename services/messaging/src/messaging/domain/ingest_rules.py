"""What an inbound message may claim about itself: when it was sent, which channel account got it.

And how a sender is spelled before it is compared and stored, so that
``"X@b.co "`` and ``"x@b.co"`` are one e-mail sender.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from crosstalk_common.domain.channel import Channel
from crosstalk_common.text_rules import normalized_identity

# Channels hand over their own clocks' times: a day ahead covers any skew,
# and nothing the platform ingests was sent before 2000.
EARLIEST_SEND_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_SEND_TIME_AHEAD = timedelta(hours=24)
# "channelConfigs/{channel_config}": one path segment of letters, digits, '-' and '_'.
_CHANNEL_CONFIG = re.compile(r"channelConfigs/[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


def send_time_problem(send_time: datetime, now: datetime) -> str | None:
    if send_time < EARLIEST_SEND_TIME:
        return f"must not be before {EARLIEST_SEND_TIME.date().isoformat()}"
    if send_time > now + MAX_SEND_TIME_AHEAD:
        hours = int(MAX_SEND_TIME_AHEAD.total_seconds() // 3600)
        return f"must not be more than {hours} hours in the future"
    return None


def channel_config_problem(name: str) -> str | None:
    if _CHANNEL_CONFIG.fullmatch(name) is None:
        return "must look like 'channelConfigs/{channel_config}' (letters, digits, '-', '_')"
    return None


def normalized_external_id(channel: Channel, external_id: str) -> str:
    """NFC and trimmed; e-mail addresses also lower-cased, as customers stores them."""
    normal = normalized_identity(external_id)
    return normal.lower() if channel is Channel.EMAIL else normal


def normalized_store(store: str) -> str:
    return normalized_identity(store).lower()
