"""Secrets at rest: envelope encryption under a key-encryption key (KEK).

``Keyring`` seals a secret (a signing key, a channel secret) for storage and
opens it again; ``keyring_from_env`` builds one from ``<PREFIX>_KEK`` and
``<PREFIX>_KEK_PREVIOUS``. ``python -m crosstalk_common.secrets`` prints a new
KEK. See ADR 0015.
"""

from crosstalk_common.secrets.keyring import (
    SEALED_PREFIX,
    Kek,
    Keyring,
    SecretError,
    is_sealed,
    sealed_kek_id,
)
from crosstalk_common.secrets.settings import keyring_from_env

__all__ = [
    "SEALED_PREFIX",
    "Kek",
    "Keyring",
    "SecretError",
    "is_sealed",
    "keyring_from_env",
    "sealed_kek_id",
]
