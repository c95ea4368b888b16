"""Channel rules without I/O: webhook signatures (HMAC, window), secrets, webhook bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument
from messaging.domain.channels import (
    ChannelConfig,
    ChannelSecrets,
    SignatureRejected,
    SmtpSecurity,
    parse_webhook_body,
    secret_matches,
    signature,
    verify_signature,
)
from messaging.domain.delivery import RetryPolicy, SendFailed

SECRET = "whsec-0123456789abcdef"
NOW = datetime(2026, 12, 7, 2, 0, 0, tzinfo=UTC)
BODY = b'{"sender":{"external_id":"u-1"},"text":"hola"}'


def _ts(at: datetime) -> str:
    return str(int(at.timestamp()))


def test_a_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1796608800." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1796608800", BODY) == f"sha256={expected}"


def test_a_fresh_signature_over_the_body_is_accepted() -> None:
    ts = _ts(NOW - timedelta(minutes=4, seconds=59))
    sent = verify_signature(SECRET, ts, signature(SECRET, ts, BODY), BODY, NOW)
    assert sent == datetime.fromtimestamp(int(ts), tz=UTC)
    # upper-case hex and surrounding spaces are the same signature
    verify_signature(SECRET, ts, " " + signature(SECRET, ts, BODY).upper() + " ", BODY, NOW)


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1)]
)
def test_a_signature_outside_the_five_minute_window_is_refused(offset: timedelta) -> None:
    ts = _ts(NOW - offset)
    with pytest.raises(SignatureRejected, match="300 s"):
        verify_signature(SECRET, ts, signature(SECRET, ts, BODY), BODY, NOW)


def test_a_signature_at_the_window_edge_is_accepted() -> None:
    ts = _ts(NOW - timedelta(minutes=5))
    verify_signature(SECRET, ts, signature(SECRET, ts, BODY), BODY, NOW)


@pytest.mark.parametrize(
    ("body", "secret", "signed_ts"),
    [
        (BODY + b" ", SECRET, None),  # body changed after signing
        (BODY, SECRET + "x", None),  # another secret
        (BODY, SECRET, "1"),  # signed for another timestamp
    ],
)
def test_a_signature_that_does_not_match_is_refused(
    body: bytes, secret: str, signed_ts: str | None
) -> None:
    ts = _ts(NOW)
    signed = signature(secret, signed_ts or ts, BODY)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify_signature(SECRET, ts, signed, body, NOW)


@pytest.mark.parametrize(
    ("ts", "signed", "why"),
    [
        ("", "sha256=00", "required"),
        ("123", "", "required"),
        ("12.5", "sha256=00", "Unix seconds"),
        ("-5", "sha256=00", "Unix seconds"),
        ("9" * 13, "sha256=00", "Unix seconds"),
    ],
)
def test_missing_or_malformed_headers_are_refused(ts: str, signed: str, why: str) -> None:
    with pytest.raises(SignatureRejected, match=why):
        verify_signature(SECRET, ts, signed, BODY, NOW)


def test_a_channel_without_a_signing_secret_accepts_nothing() -> None:
    ts = _ts(NOW)
    with pytest.raises(SignatureRejected, match="no signing secret"):
        verify_signature("", ts, signature("", ts, BODY), BODY, NOW)


def test_a_shared_secret_matches_only_itself_and_never_when_unset() -> None:
    assert secret_matches("inbound-secret-0123", "inbound-secret-0123")
    assert not secret_matches("inbound-secret-0123", "inbound-secret-0124")
    assert not secret_matches("", "")


def test_secrets_round_trip_as_json_and_never_print() -> None:
    secrets = ChannelSecrets(
        signing_secret=SECRET,
        smtp_host="smtp.shop.test",
        smtp_password="hunter2-hunter2",
        smtp_security=SmtpSecurity.TLS,
    )
    assert ChannelSecrets.from_json(secrets.to_json()) == secrets
    assert secrets.names_set() == {"signing_secret", "smtp_host", "smtp_password", "smtp_security"}
    assert "hunter2" not in repr(secrets)
    assert SECRET not in repr(secrets)
    assert secrets.port == 465
    assert ChannelSecrets(smtp_security=SmtpSecurity.NONE).port == 25
    assert ChannelSecrets().port == 587
    assert ChannelSecrets.from_json("") == ChannelSecrets()


def test_secret_changes_replace_some_or_all() -> None:
    secrets = ChannelSecrets(signing_secret=SECRET, outbound_url="https://a.test/hook")
    changed = secrets.with_changes({"outbound_url": "https://b.test/hook"}, replace_all=False)
    assert changed == ChannelSecrets(signing_secret=SECRET, outbound_url="https://b.test/hook")
    replaced = secrets.with_changes({"outbound_url": "https://b.test/hook"}, replace_all=True)
    assert replaced == ChannelSecrets(outbound_url="https://b.test/hook")


def test_bad_secrets_name_their_fields() -> None:
    problems = ChannelSecrets(
        signing_secret="short",
        inbound_secret="short",
        outbound_url="ftp://x.test/",
        smtp_host="bad host!",
        smtp_port=70000,
        from_address="not-an-address",
    ).problems("channel_config.secrets")
    assert [p.field for p in problems] == [
        "channel_config.secrets.signing_secret",
        "channel_config.secrets.inbound_secret",
        "channel_config.secrets.outbound_url",
        "channel_config.secrets.smtp_host",
        "channel_config.secrets.smtp_port",
        "channel_config.secrets.from_address",
    ]


def test_a_config_is_trimmed_and_needs_a_display_name() -> None:
    config = ChannelConfig(
        "c", "t", Channel.EMAIL, display_name="  Support ", store=" Amazon.DE ", address=" a@b.c "
    ).validated()
    assert (config.display_name, config.store, config.address) == ("Support", "amazon.de", "a@b.c")
    with pytest.raises(InvalidArgument) as refused:
        ChannelConfig("c", "t", Channel.EMAIL, display_name=" ", default_language="e_s").validated()
    assert [v.field for v in refused.value.violations] == [
        "channel_config.display_name",
        "channel_config.default_language",
    ]


def test_a_webhook_body_is_read() -> None:
    delivery = parse_webhook_body(
        b'{"sender":{"external_id":"u-1","display_name":"Ana"},"text":"hola","message_id":"m-9"}'
    )
    assert (delivery.sender_external_id, delivery.sender_display_name) == ("u-1", "Ana")
    assert (delivery.text, delivery.message_id) == ("hola", "m-9")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b"\xff", ["body"]),
        (b"[1]", ["body"]),
        (b'{"sender":{"external_id":"u-1"},"text":"hi","x":' + b"[" * 100_000, ["body"]),
        (b"{}", ["body.sender.external_id", "body.text"]),
        (
            b'{"sender":{"external_id":1},"text":2,"message_id":3}',
            ["body.sender.external_id", "body.text", "body.message_id"],
        ),
    ],
)
def test_a_bad_webhook_body_names_its_fields(body: bytes, fields: list[str]) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_webhook_body(body)
    assert [v.field for v in refused.value.violations] == fields


def test_retries_back_off_and_stop() -> None:
    policy = RetryPolicy(
        max_attempts=4, first_delay=timedelta(seconds=2), max_delay=timedelta(seconds=5)
    )
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [
        timedelta(seconds=2),
        timedelta(seconds=4),
        timedelta(seconds=5),
        timedelta(seconds=5),
    ]
    transient = SendFailed("421 try later")
    assert policy.next_attempt(1, transient, NOW) == NOW + timedelta(seconds=2)
    assert policy.next_attempt(4, transient, NOW) is None
    assert policy.next_attempt(1, SendFailed("550 no such user", permanent=True), NOW) is None
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
