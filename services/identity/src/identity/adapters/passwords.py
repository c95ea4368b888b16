"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher


class Argon2Hasher:
    def __init__(self) -> None:
        self._hasher = PasswordHasher()  # argon2id with the library's recommended costs

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)
