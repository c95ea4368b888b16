"""Members are compared and stored in one spelling: NFC, trimmed, e-mail lower-cased."""

from __future__ import annotations

from datetime import UTC, datetime

from identity.app.members import normalized
from identity.domain.model import Member, normalize_email


def test_spellings_of_one_address_are_one_email() -> None:
    assert normalize_email(" Jose\u0301@Acme.test\t") == normalize_email("jos\u00e9@acme.test")
    assert normalize_email("jos\u00e9@acme.test") == "jos\u00e9@acme.test"


def test_member_names_and_emails_are_nfc_and_trimmed() -> None:
    member = Member(
        id="m1",
        tenant_id="t1",
        email=" Rene\u0301@Acme.test ",
        display_name="  Rene\u0301 Dupont ",
        role="admin",
        created_at=datetime(2026, 12, 6, tzinfo=UTC),
    )
    spelled = normalized(member)
    assert (spelled.email, spelled.display_name) == ("ren\u00e9@acme.test", "Ren\u00e9 Dupont")
