"""MessagingService RPCs: after-sales cases."""

from __future__ import annotations


class CaseRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""
