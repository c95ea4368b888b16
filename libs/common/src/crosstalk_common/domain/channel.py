"""Where a customer talks to the tenant: the one ``Channel`` every service's domain uses.

The API's ``crosstalk.common.v1.Channel`` is its wire form, converted in one
place, ``crosstalk_common.api.channels``. Tables store ``Channel.value``
("email", "web_chat"), and condition values compare with it too.
"""

from __future__ import annotations

from enum import Enum


class Channel(Enum):
    EMAIL = "email"
    PHONE = "phone"
    WHATSAPP = "whatsapp"
    WEB_CHAT = "web_chat"
    AMAZON = "amazon"
    EBAY = "ebay"
    SHOPEE = "shopee"

    @property
    def api_name(self) -> str:
        """Its name in the API, ``"CHANNEL_EMAIL"``."""
        return f"CHANNEL_{self.name}"


# What a condition on a channel field may compare with: the values, and the
# API's names as aliases of them ("CHANNEL_EMAIL" is read as "email").
CHANNEL_VALUES: tuple[str, ...] = tuple(c.value for c in Channel)
CHANNEL_ALIASES: dict[str, str] = {c.api_name: c.value for c in Channel}
