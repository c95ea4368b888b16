"""MessagingService RPCs: reply templates (CRUD, versions, rendering)."""

from __future__ import annotations


class TemplateRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""
