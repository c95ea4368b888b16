"""crosstalk_common.secrets: envelope encryption under a KEK, rotation, settings."""

from __future__ import annotations

import base64

import pytest

from crosstalk_common.config import MissingSetting
from crosstalk_common.secrets import Kek, Keyring, SecretError, keyring_from_env, sealed_kek_id

SECRET = b"a channel secret \x00\xff"


def test_seal_and_open_round_trip_with_fresh_data_keys() -> None:
    ring = Keyring(Kek.generate("k1"))
    one, two = ring.seal(SECRET, context="row/1"), ring.seal(SECRET, context="row/1")
    assert one != two  # a new data key and nonces each time
    assert SECRET not in one.encode()
    assert base64.b64encode(SECRET).decode() not in one
    assert ring.open(one, context="row/1") == SECRET
    assert sealed_kek_id(one) == "k1"


def test_the_context_is_authenticated() -> None:
    ring = Keyring(Kek.generate("k1"))
    sealed = ring.seal(SECRET, context="row/1")
    with pytest.raises(SecretError, match="does not open"):
        ring.open(sealed, context="row/2")


def test_tampering_is_detected() -> None:
    ring = Keyring(Kek.generate("k1"))
    head, data = ring.seal(SECRET, context="c").rsplit(".", 1)
    flipped = data[:-2] + ("A" if data[-2] != "A" else "B") + data[-1]
    with pytest.raises(SecretError, match="altered"):
        ring.open(f"{head}.{flipped}", context="c")
    with pytest.raises(SecretError, match="not a sealed secret"):
        ring.open("-----BEGIN PRIVATE KEY-----", context="c")


def test_rotation_opens_old_secrets_and_rewraps_only_the_data_key() -> None:
    old, new = Kek.generate("2026-01"), Kek.generate("2026-12")
    sealed = Keyring(old).seal(SECRET, context="c")
    rotated = Keyring(new, (old,))
    assert rotated.needs_rewrap(sealed)
    assert rotated.open(sealed, context="c") == SECRET
    rewrapped = rotated.rewrap(sealed, context="c")
    assert sealed_kek_id(rewrapped) == "2026-12"
    assert rewrapped.rsplit(".", 1)[1] == sealed.rsplit(".", 1)[1]  # the secret's ciphertext
    assert not rotated.needs_rewrap(rewrapped)
    assert rotated.rewrap(rewrapped, context="c") == rewrapped
    assert Keyring(new).open(rewrapped, context="c") == SECRET
    with pytest.raises(SecretError, match="sealed with KEK '2026-01'"):
        Keyring(new).open(sealed, context="c")
    with pytest.raises(SecretError, match="does not open"):
        Keyring(Kek.generate("2026-01")).open(sealed, context="c")


def test_keks_parse_from_their_text_and_refuse_bad_ones() -> None:
    kek = Kek.generate("k-1")
    assert Kek.parse(kek.text()) == kek
    urlsafe = "k-1:" + base64.urlsafe_b64encode(kek.key).decode().rstrip("=")
    assert Kek.parse(urlsafe) == kek
    assert kek.key.hex() not in repr(kek)
    for bad, why in (
        ("nocolon", "<id>:"),
        ("k.1:" + base64.b64encode(bytes(32)).decode(), "letters"),
        ("k1:" + base64.b64encode(bytes(16)).decode(), "32 bytes"),
        ("k1:%%%", "base64"),
    ):
        with pytest.raises(SecretError, match=why):
            Kek.parse(bad)
    with pytest.raises(SecretError, match="differ"):
        Keyring(kek, (kek,))


def test_keyring_from_env() -> None:
    current, previous = Kek.generate("b"), Kek.generate("a")
    ring = keyring_from_env(
        "MESSAGING",
        {"MESSAGING_KEK": current.text(), "MESSAGING_KEK_PREVIOUS": f" {previous.text()} ,"},
    )
    assert ring == Keyring(current, (previous,))
    with pytest.raises(MissingSetting, match="MESSAGING_KEK is required") as missing:
        keyring_from_env("MESSAGING", {"MESSAGING_KEK_PREVIOUS": previous.text()})
    assert "python -m crosstalk_common.secrets" in str(missing.value)
