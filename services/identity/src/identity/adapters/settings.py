"""identity's own settings (IDENTITY_*), on top of every service's ServiceSettings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from crosstalk_common.auth.service_credentials import service_secret_from_env
from crosstalk_common.config import MissingSetting, load_settings
from crosstalk_common.secrets import Keyring, keyring_from_env
from identity.domain.lockout import LockoutPolicy
from identity.domain.model import TokenLifetimes
from identity.domain.service_principals import SERVICE_GRANTS
from identity.domain.signing import KeyPolicy


@dataclass(frozen=True)
class IdentitySettings:
    # Durations: "900", "15m", "30d" or ISO-8601 ("PT15M").
    access_token_ttl: timedelta = timedelta(minutes=15)
    refresh_token_ttl: timedelta = timedelta(days=30)
    signing_key_max_age: timedelta = timedelta(days=30)
    # How long before it signs a new key is published (longer than the
    # gateway's JWKS cache, so Envoy knows it before it meets a token).
    signing_key_publish_ahead: timedelta = timedelta(minutes=10)
    jwks_host: str = "127.0.0.1"
    jwks_port: int = 50151
    lockout_threshold: int = 5
    lockout_initial: timedelta = timedelta(seconds=30)
    lockout_max: timedelta = timedelta(minutes=15)
    # The key-encryption key sealing the signing keys ("<id>:<base64>",
    # required) and earlier KEKs that still open keys sealed before a rotation.
    kek: str = field(default="", repr=False)
    kek_previous: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IdentitySettings:
        settings = load_settings(cls, "IDENTITY", environ)
        problems = [
            f"IDENTITY_{name.upper()} must be positive"
            for name in (
                "access_token_ttl",
                "refresh_token_ttl",
                "signing_key_max_age",
                "lockout_initial",
                "lockout_max",
            )
            if getattr(settings, name) <= timedelta(0)
        ]
        if settings.signing_key_publish_ahead >= settings.signing_key_max_age:
            problems.append(
                "IDENTITY_SIGNING_KEY_PUBLISH_AHEAD must be shorter than "
                "IDENTITY_SIGNING_KEY_MAX_AGE"
            )
        if settings.lockout_threshold < 1:
            problems.append("IDENTITY_LOCKOUT_THRESHOLD must be at least 1")
        if not 0 <= settings.jwks_port <= 65535:
            problems.append("IDENTITY_JWKS_PORT must be a port number")
        try:
            settings.keyring  # noqa: B018 (parsed here so that a bad KEK stops the start)
        except MissingSetting as exc:
            problems.extend(exc.problems)
        if problems:
            raise MissingSetting("; ".join(problems), tuple(problems))
        return settings

    @property
    def keyring(self) -> Keyring:
        return keyring_from_env(
            "IDENTITY", {"IDENTITY_KEK": self.kek, "IDENTITY_KEK_PREVIOUS": self.kek_previous}
        )

    @property
    def lifetimes(self) -> TokenLifetimes:
        return TokenLifetimes(access=self.access_token_ttl, refresh=self.refresh_token_ttl)

    @property
    def lockout(self) -> LockoutPolicy:
        return LockoutPolicy(
            threshold=self.lockout_threshold,
            initial_lock=self.lockout_initial,
            max_lock=self.lockout_max,
        )

    @property
    def key_policy(self) -> KeyPolicy:
        return KeyPolicy(
            max_age=self.signing_key_max_age,
            publish_ahead=self.signing_key_publish_ahead,
            token_ttl=self.access_token_ttl,
        )


@dataclass(frozen=True)
class ServiceSecrets:
    """The secret of each service identity issues service tokens to (ADR 0026):
    ``<SERVICE>_SERVICE_SECRET``, shared with that service; required outside dev."""

    by_service: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSecrets:
        return cls({s: service_secret_from_env(s, environ) for s in sorted(SERVICE_GRANTS)})
