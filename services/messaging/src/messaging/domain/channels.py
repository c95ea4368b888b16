"""Channel accounts (channel configs), their secrets, and signed webhook deliveries.

Pure rules: what a config and its secrets may hold, how a webhook delivery is
signed and checked (HMAC-SHA256 over ``"<timestamp>." + body``, a 5-minute
window), and what an inbound webhook body says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from crosstalk_common.domain.channel import Channel
from crosstalk_common.egress import PUBLIC_ONLY, EgressPolicy
from crosstalk_common.errors import FieldViolation, InvalidArgument

SIGNATURE_WINDOW = timedelta(minutes=5)
MIN_SECRET_LENGTH = 16
SIGNATURE_PREFIX = "sha256="
MAX_DISPLAY_NAME = 200
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]+\]$")


class SmtpSecurity(Enum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"

    @property
    def default_port(self) -> int:
        return {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465}[self]


@dataclass(frozen=True)
class ChannelSecrets:
    """What an adapter needs to send and receive for one account; sealed at rest."""

    signing_secret: str = ""
    outbound_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    from_address: str = ""
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    inbound_secret: str = field(default="", repr=False)
    ingest_api_key: str = field(default="", repr=False)

    def __repr__(self) -> str:  # never print a secret, whatever the field
        return f"ChannelSecrets(set={sorted(self.names_set())})"

    def names_set(self) -> frozenset[str]:
        """The fields holding something (the security counts only when not the default)."""
        default = ChannelSecrets()
        return frozenset(
            f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)
        )

    @property
    def port(self) -> int:
        return self.smtp_port or self.smtp_security.default_port

    def with_changes(self, changes: dict[str, object], *, replace_all: bool) -> ChannelSecrets:
        base = ChannelSecrets() if replace_all else self
        return replace(base, **changes)  # type: ignore[arg-type]

    def to_json(self) -> str:
        data: dict[str, Any] = {name: getattr(self, name) for name in self.names_set()}
        if "smtp_security" in data:
            data["smtp_security"] = self.smtp_security.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ChannelSecrets:
        data = json.loads(text) if text else {}
        if "smtp_security" in data:
            data["smtp_security"] = SmtpSecurity(data["smtp_security"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def problems(
        self, prefix: str = "secrets", egress: EgressPolicy = PUBLIC_ONLY
    ) -> list[FieldViolation]:
        """What is wrong with these secrets; hosts written as an address (or
        ``localhost``) must be ones ``egress`` lets the platform reach."""
        found: list[FieldViolation] = []
        for name in ("signing_secret", "inbound_secret"):
            value = getattr(self, name)
            if value and len(value) < MIN_SECRET_LENGTH:
                found.append(
                    FieldViolation(f"{prefix}.{name}", f"at least {MIN_SECRET_LENGTH} characters")
                )
        if self.outbound_url:
            parts = urlsplit(self.outbound_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                found.append(
                    FieldViolation(f"{prefix}.outbound_url", "must be an http:// or https:// URL")
                )
            elif problem := egress.url_problem(parts):
                found.append(FieldViolation(f"{prefix}.outbound_url", problem))
        if self.smtp_host and not _HOSTNAME.match(self.smtp_host):
            found.append(FieldViolation(f"{prefix}.smtp_host", "must be a host name or address"))
        elif self.smtp_host and (problem := egress.problem(self.smtp_host, self.port)):
            found.append(FieldViolation(f"{prefix}.smtp_host", problem))
        if not 0 <= self.smtp_port <= 65535:
            found.append(FieldViolation(f"{prefix}.smtp_port", "must be 0 to 65535"))
        if self.from_address and not _EMAIL.match(self.from_address):
            found.append(FieldViolation(f"{prefix}.from_address", "must be an e-mail address"))
        return found


@dataclass(frozen=True)
class ChannelConfig:
    """One connected channel account of a tenant."""

    id: str
    tenant_id: str
    channel: Channel
    display_name: str = ""
    store: str = ""
    address: str = ""
    credentials_ref: str = ""
    enabled: bool = True
    default_language: str = ""
    secrets_set: frozenset[str] = frozenset()
    last_error: str = ""
    last_sync_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def validated(self) -> ChannelConfig:
        """The config spelled as stored (trimmed, store lower-cased); INVALID_ARGUMENT otherwise."""
        config = replace(
            self,
            display_name=self.display_name.strip(),
            store=self.store.strip().lower(),
            address=self.address.strip(),
            default_language=self.default_language.strip(),
        )
        problems = []
        if not config.display_name:
            problems.append(FieldViolation("channel_config.display_name", "must not be empty"))
        elif len(config.display_name) > MAX_DISPLAY_NAME:
            problems.append(
                FieldViolation(
                    "channel_config.display_name", f"at most {MAX_DISPLAY_NAME} characters"
                )
            )
        if config.default_language and not _LANGUAGE.match(config.default_language):
            problems.append(
                FieldViolation("channel_config.default_language", "must be a BCP-47 tag")
            )
        if problems:
            raise InvalidArgument(problems)
        return config


# Fields an update may change (secrets are handled apart: "secrets" or "secrets.<field>").
EDITABLE_FIELDS = (
    "display_name",
    "store",
    "address",
    "credentials_ref",
    "enabled",
    "default_language",
)
SECRET_FIELDS = tuple(f.name for f in fields(ChannelSecrets))


# --- signed webhook deliveries ---------------------------------------------------------


class SignatureRejected(Exception):
    """A webhook delivery whose signature does not prove it came from the secret's holder."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with the secret over ``"<timestamp>."`` and the body."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    signed: str,
    body: bytes,
    now: datetime,
    window: timedelta = SIGNATURE_WINDOW,
) -> datetime:
    """The delivery's time when ``signed`` is the body's signature made within the window.

    Raises SignatureRejected saying why (without revealing the expected value).
    """
    if not secret:
        raise SignatureRejected("the channel has no signing secret")
    if not timestamp or not signed:
        raise SignatureRejected("x-crosstalk-timestamp and x-crosstalk-signature are required")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureRejected("x-crosstalk-timestamp must be Unix seconds")
    sent = datetime.fromtimestamp(int(timestamp), tz=now.tzinfo)
    if abs(now - sent) > window:
        raise SignatureRejected(
            f"x-crosstalk-timestamp is more than {int(window.total_seconds())} s from now"
        )
    if not hmac.compare_digest(signature(secret, timestamp, body), signed.strip().lower()):
        raise SignatureRejected("the signature does not match the body")
    return sent


def secret_matches(expected: str, given: str) -> bool:
    """A shared secret compared in constant time; an unset one matches nothing."""
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


@dataclass(frozen=True)
class WebhookDelivery:
    """What an inbound webhook body says (JSON)::

    {"sender": {"external_id": "...", "display_name": "..."},
     "text": "...", "message_id": "...", "subject": "..."}
    """

    sender_external_id: str
    text: str
    sender_display_name: str = ""
    message_id: str = ""


def parse_webhook_body(body: bytes) -> WebhookDelivery:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidArgument.field("body", "must be a JSON object in UTF-8") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise InvalidArgument.field("body", "is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise InvalidArgument.field("body", "must be a JSON object")
    sender = data.get("sender")
    problems = []
    if not isinstance(sender, dict) or not isinstance(sender.get("external_id"), str):
        problems.append(FieldViolation("body.sender.external_id", "is required (a string)"))
        sender = {}
    if not isinstance(data.get("text"), str):
        problems.append(FieldViolation("body.text", "is required (a string)"))
    for key in ("message_id",):
        if key in data and not isinstance(data[key], str):
            problems.append(FieldViolation(f"body.{key}", "must be a string"))
    if "display_name" in sender and not isinstance(sender["display_name"], str):
        problems.append(FieldViolation("body.sender.display_name", "must be a string"))
    if problems:
        raise InvalidArgument(problems)
    return WebhookDelivery(
        sender_external_id=sender["external_id"],
        text=data["text"],
        sender_display_name=sender.get("display_name", ""),
        message_id=data.get("message_id", ""),
    )
