"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Hasher:
    """argon2id with the library's RFC 9106 low-memory profile (the default):
    t=3 iterations, m=64 MiB, p=4 lanes."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    @property
    def parameters(self) -> str:
        h = self._hasher
        return (
            f"argon2id time_cost={h.time_cost} memory_cost={h.memory_cost} KiB "
            f"parallelism={h.parallelism} hash_len={h.hash_len} salt_len={h.salt_len}"
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return False
