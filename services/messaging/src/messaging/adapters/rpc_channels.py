"""MessagingService RPCs: channel configs and inbound deliveries (webhook, e-mail)."""

from __future__ import annotations


class ChannelRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""
