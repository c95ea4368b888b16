"""Envelope encryption with AES-256-GCM.

Each sealed secret gets its own random data key (DEK). The secret is encrypted
with the DEK, and the DEK is encrypted ("wrapped") with the current KEK. The
stored text names the KEK, so a keyring that also holds previous KEKs opens
secrets sealed before a rotation, and ``rewrap`` moves them to the current KEK
by re-wrapping the DEK alone (the secret's own ciphertext does not change).

Sealed text: ``ctk1.<kek id>.<wrapped DEK>.<ciphertext>`` (base64url parts,
each with its 12-byte nonce in front). The caller's ``context`` (e.g. the row a
secret belongs to) is authenticated with both parts, so a sealed value copied
into another row does not open there.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_PREFIX = "ctk1."
KEY_BYTES = 32
_NONCE_BYTES = 12
_KEK_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class SecretError(ValueError):
    """A KEK is malformed, or a sealed secret cannot be opened with the keyring."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)


def _dek_aad(kek_id: str, context: str) -> bytes:
    return f"ctk1 dek|{kek_id}|{context}".encode()


def _data_aad(context: str) -> bytes:
    return f"ctk1 data|{context}".encode()


@dataclass(frozen=True)
class Kek:
    """One key-encryption key: an id (stored with what it seals) and 32 random bytes."""

    id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEK_ID.match(self.id):
            raise SecretError(f"KEK id {self.id!r} must be 1-40 letters, digits, '-' or '_'")
        if len(self.key) != KEY_BYTES:
            raise SecretError(f"KEK {self.id!r} must be {KEY_BYTES} bytes, got {len(self.key)}")

    @classmethod
    def generate(cls, kek_id: str) -> Kek:
        return cls(kek_id, AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    @classmethod
    def parse(cls, text: str) -> Kek:
        """``<id>:<32 bytes in base64>`` (standard or URL-safe alphabet)."""
        kek_id, sep, encoded = text.strip().partition(":")
        if not sep or not encoded:
            raise SecretError("a KEK is written '<id>:<32 bytes in base64>'")
        try:
            key = base64.b64decode(
                encoded.replace("-", "+").replace("_", "/") + "=" * (-len(encoded) % 4),
                validate=True,
            )
        except ValueError:
            raise SecretError(f"KEK {kek_id!r}: the key is not valid base64") from None
        return cls(kek_id, key)

    def text(self) -> str:
        """The form ``parse`` reads (for settings files; it is the secret itself)."""
        return f"{self.id}:{base64.b64encode(self.key).decode()}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def _parts(sealed: str) -> tuple[str, bytes, bytes]:
    pieces = sealed.split(".")
    if len(pieces) != 4 or pieces[0] + "." != SEALED_PREFIX:
        raise SecretError("not a sealed secret (expected 'ctk1.<kek>.<dek>.<data>')")
    try:
        return pieces[1], _unb64(pieces[2]), _unb64(pieces[3])
    except ValueError:
        raise SecretError("a sealed secret is corrupt (bad base64)") from None


def sealed_kek_id(sealed: str) -> str:
    """The id of the KEK a sealed secret's data key is wrapped with."""
    return _parts(sealed)[0]


@dataclass(frozen=True)
class Keyring:
    """The current KEK, which seals, and previous ones, which only open."""

    current: Kek
    previous: tuple[Kek, ...] = ()

    def __post_init__(self) -> None:
        ids = [k.id for k in self.all]
        if len(set(ids)) != len(ids):
            raise SecretError(f"KEK ids must differ, got {ids}")

    @property
    def all(self) -> tuple[Kek, ...]:
        return (self.current, *self.previous)

    @classmethod
    def of(cls, current: Kek, previous: Iterable[Kek] = ()) -> Keyring:
        return cls(current, tuple(previous))

    def _kek(self, kek_id: str) -> Kek:
        for kek in self.all:
            if kek.id == kek_id:
                return kek
        known = ", ".join(repr(k.id) for k in self.all)
        raise SecretError(
            f"sealed with KEK {kek_id!r}, which is neither the current KEK nor a previous "
            f"one (this keyring has {known}); add it to the previous KEKs"
        )

    def _dek(self, kek_id: str, wrapped: bytes, context: str) -> bytes:
        kek = self._kek(kek_id)
        try:
            return _decrypt(kek.key, wrapped, _dek_aad(kek_id, context))
        except (InvalidTag, ValueError):
            raise SecretError(
                f"KEK {kek_id!r} does not open this secret: the configured key is not the "
                "one it was sealed with, or the stored value was altered or moved"
            ) from None

    def seal(self, plaintext: bytes, *, context: str) -> str:
        dek = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        kek = self.current
        wrapped = _encrypt(kek.key, dek, _dek_aad(kek.id, context))
        data = _encrypt(dek, plaintext, _data_aad(context))
        return f"{SEALED_PREFIX}{kek.id}.{_b64(wrapped)}.{_b64(data)}"

    def open(self, sealed: str, *, context: str) -> bytes:
        kek_id, wrapped, data = _parts(sealed)
        dek = self._dek(kek_id, wrapped, context)
        try:
            return _decrypt(dek, data, _data_aad(context))
        except (InvalidTag, ValueError):
            raise SecretError(
                "the sealed secret was altered or belongs to another record"
            ) from None

    def needs_rewrap(self, sealed: str) -> bool:
        return sealed_kek_id(sealed) != self.current.id

    def rewrap(self, sealed: str, *, context: str) -> str:
        """The same secret with its data key wrapped by the current KEK."""
        kek_id, wrapped, data = _parts(sealed)
        if kek_id == self.current.id:
            return sealed
        dek = self._dek(kek_id, wrapped, context)
        kek = self.current
        rewrapped = _encrypt(kek.key, dek, _dek_aad(kek.id, context))
        return f"{SEALED_PREFIX}{kek.id}.{_b64(rewrapped)}.{_b64(data)}"
