"""A keyring from ``<PREFIX>_KEK`` (current) and ``<PREFIX>_KEK_PREVIOUS`` (comma-separated).

There is no built-in default in any environment: a service that keeps
secrets refuses to start without its KEK (``MissingSetting``), so a forgotten
Secret never means keys written in plaintext or under a well-known key. The
dev stack generates one per checkout under ``var/secrets/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from crosstalk_common.config import MissingSetting, parse_str_tuple
from crosstalk_common.secrets.keyring import Kek, Keyring, SecretError

HOW_TO_GENERATE = "generate one with `python -m crosstalk_common.secrets`"


def keyring_from_env(prefix: str, environ: Mapping[str, str] | None = None) -> Keyring:
    env = os.environ if environ is None else environ
    current_name, previous_name = f"{prefix}_KEK", f"{prefix}_KEK_PREVIOUS"
    problems: list[str] = []
    current: Kek | None = None
    previous: list[Kek] = []
    raw = env.get(current_name, "")
    if not raw.strip():
        problems.append(f"{current_name} is required (the key-encryption key); {HOW_TO_GENERATE}")
    else:
        try:
            current = Kek.parse(raw)
        except SecretError as exc:
            problems.append(f"{current_name}: {exc}")
    for index, item in enumerate(parse_str_tuple(env.get(previous_name, ""))):
        try:
            previous.append(Kek.parse(item))
        except SecretError as exc:
            problems.append(f"{previous_name}[{index}]: {exc}")
    if current is not None and not problems:
        try:
            return Keyring.of(current, previous)
        except SecretError as exc:
            problems.append(f"{current_name}/{previous_name}: {exc}")
    raise MissingSetting("; ".join(problems), tuple(problems))
