"""Member e-mail addresses are compared and stored in one spelling: NFC, trimmed, lower-cased."""

from __future__ import annotations

from identity.domain.model import normalize_email


def test_spellings_of_one_address_are_one_email() -> None:
    assert normalize_email(" Jose\u0301@Acme.test\t") == normalize_email("jos\u00e9@acme.test")
    assert normalize_email("jos\u00e9@acme.test") == "jos\u00e9@acme.test"
