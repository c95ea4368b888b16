"""MessagingService RPCs: CSAT surveys."""

from __future__ import annotations


class CsatRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""
