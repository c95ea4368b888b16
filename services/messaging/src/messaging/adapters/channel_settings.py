"""Settings of the channel area, from the environment (``MESSAGING_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from crosstalk_common.config import load_settings
from crosstalk_common.secrets import Keyring, keyring_from_env
from messaging.domain.delivery import RetryPolicy


@dataclass(frozen=True)
class ChannelSettings:
    # Attempts at delivering one outbound message before it is FAILED.
    delivery_max_attempts: int = 5
    # The wait after the first failed attempt; it doubles after each one, up to the max.
    delivery_first_retry: timedelta = timedelta(seconds=2)
    delivery_max_retry: timedelta = timedelta(minutes=10)
    # One SMTP conversation / one webhook POST, at most.
    smtp_timeout: timedelta = timedelta(seconds=20)
    webhook_timeout: timedelta = timedelta(seconds=10)
    # How long a signed inbound delivery's idempotency key answers its message.
    webhook_retention: timedelta = timedelta(days=7)

    @classmethod
    def from_env(cls) -> ChannelSettings:
        return load_settings(cls, "MESSAGING")

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.delivery_max_attempts,
            first_delay=self.delivery_first_retry,
            max_delay=self.delivery_max_retry,
        )


def channel_keyring() -> Keyring:
    """``MESSAGING_KEK`` (required) and ``MESSAGING_KEK_PREVIOUS``: channel secrets' keys."""
    return keyring_from_env("MESSAGING")


class KeyringSecretBox:
    """The SecretBox port over crosstalk_common.secrets (AES-256-GCM envelopes, ADR 0015)."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def seal(self, plaintext: str, *, context: str) -> str:
        return self._keyring.seal(plaintext.encode(), context=context)

    def open(self, sealed: str, *, context: str) -> str:
        return self._keyring.open(sealed, context=context).decode()
