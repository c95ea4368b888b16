"""Channel identities are compared and stored in one spelling: NFC, trimmed, e-mail lower-cased."""

from __future__ import annotations

from crosstalk_common.domain.channel import Channel
from customers.domain.model import ChannelIdentity


def test_spellings_of_one_email_address_are_one_identity() -> None:
    composed = ChannelIdentity(Channel.EMAIL, "jos\u00e9@b.co").normalized()
    assert ChannelIdentity(Channel.EMAIL, " Jose\u0301@B.co ").normalized() == composed
    assert composed.external_id == "jos\u00e9@b.co"


def test_other_channels_keep_case_but_not_decomposition() -> None:
    buyer = ChannelIdentity(Channel.AMAZON, " Rene\u0301-77 ", " Amazon-DE ").normalized()
    assert buyer == ChannelIdentity(Channel.AMAZON, "Ren\u00e9-77", "amazon-de")
