"""CSAT settings from the environment: the key that signs survey tokens, the default
expiry, where the survey page behind the customer's link lives."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from crosstalk_common.config import MissingSetting

_MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class CsatSettings:
    token_key: bytes
    default_expiry: timedelta
    # The survey page: the link sent is {link_base}/{survey id}?token={token}.
    link_base: str = "http://localhost:3000/csat"


def csat_settings_from_env(environ: Mapping[str, str] | None = None) -> CsatSettings:
    """``MESSAGING_CSAT_TOKEN_SECRET`` (at least 32 bytes; required outside dev, where a
    dev-only value stands in) and ``MESSAGING_CSAT_EXPIRY_DAYS`` (1 to 90, 7 by default).
    A bad value stops the service, naming it."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    secret = env.get("MESSAGING_CSAT_TOKEN_SECRET", "")
    if not secret:
        if env.get("CROSSTALK_ENV", "dev") != "dev":
            problems.append("MESSAGING_CSAT_TOKEN_SECRET is required outside dev")
        secret = "dev-only-csat-token-secret-messaging-0123456789"  # noqa: S105 (dev only)
    elif len(secret.encode()) < _MIN_SECRET_BYTES:
        problems.append(f"MESSAGING_CSAT_TOKEN_SECRET must be at least {_MIN_SECRET_BYTES} bytes")
    days_text = env.get("MESSAGING_CSAT_EXPIRY_DAYS", "7")
    days = int(days_text) if days_text.isdigit() else 0
    if not 1 <= days <= 90:
        problems.append(f"MESSAGING_CSAT_EXPIRY_DAYS must be 1 to 90, got {days_text!r}")
    link_base = env.get("MESSAGING_CSAT_LINK_BASE", "") or CsatSettings.link_base
    parts = urlsplit(link_base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        problems.append(
            f"MESSAGING_CSAT_LINK_BASE must be an http(s) URL without a query, got {link_base!r}"
        )
    if problems:
        raise MissingSetting("; ".join(problems), tuple(problems))
    return CsatSettings(secret.encode(), timedelta(days=days), link_base)
