"""A tenant's channel cannot make messaging connect inside the platform's network.

A channel's webhook URL and SMTP host are the tenant's to choose. Written as an
address (or localhost) that is not public, they are refused when saved; a name
that resolves to such an address is refused when a message is sent, before any
connection, and the message fails for good. Real receivers on loopback show
that nothing arrives, and that an allowed name still reaches them (connected by
the checked address, with the Host header and name kept).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from crosstalk_common.domain.channel import Channel
from crosstalk_common.egress import PUBLIC_ONLY, EgressPolicy
from messaging.adapters.channel_adapters.smtp import SmtpChannel
from messaging.adapters.channel_adapters.webhook import WebhookChannel
from messaging.domain.channels import ChannelConfig, ChannelSecrets, SmtpSecurity
from messaging.domain.delivery import ChannelAccount, OutboundMessage, SendFailed
from messaging.domain.model import Sender
from tests.mail_sink import MailSink

LOOPBACK = EgressPolicy.parse("127.0.0.0/8,::1")
SIGNING = "whsec-test-0123456789"


class _Receiver(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.seen.append((self.path, self.headers.get("host", "")))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Receiver", (_Receiver,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mailbox() -> Iterator[MailSink]:
    sink = MailSink().start()
    try:
        yield sink
    finally:
        sink.stop()


def _message() -> OutboundMessage:
    return OutboundMessage(
        tenant_id="t1",
        message_id="m1",
        conversation_id="c1",
        customer="customers/x",
        recipient=Sender(Channel.EMAIL, "buyer@example.com"),
        text="Hola",
        language="es",
    )


async def _post(egress: EgressPolicy, outbound_url: str) -> None:
    """One message sent through the webhook channel to ``outbound_url``."""
    secrets = ChannelSecrets(outbound_url=outbound_url, signing_secret=SIGNING)
    channel = WebhookChannel(5.0, egress=egress)
    try:
        await channel.send(_account(Channel.WHATSAPP, secrets), _message())
    finally:
        await channel.close()


def _account(channel: Channel, secrets: ChannelSecrets) -> ChannelAccount:
    config = ChannelConfig(id="cc1", tenant_id="t1", channel=channel, address="shop@example.com")
    return ChannelAccount(config, secrets)


@pytest.mark.parametrize(
    ("secrets", "field"),
    [
        (ChannelSecrets(outbound_url="http://169.254.169.254/latest/meta-data/"), "outbound_url"),
        (ChannelSecrets(outbound_url="https://10.0.0.5:8443/hook"), "outbound_url"),
        (ChannelSecrets(outbound_url="http://localhost:9901/quitquitquit"), "outbound_url"),
        (ChannelSecrets(outbound_url="https://hooks.example.com:99999/x"), "outbound_url"),
        (ChannelSecrets(smtp_host="192.168.0.10"), "smtp_host"),
        (ChannelSecrets(smtp_host="[::1]"), "smtp_host"),
        (ChannelSecrets(smtp_host="localhost"), "smtp_host"),
    ],
)
def test_a_private_destination_is_refused_when_saved(secrets: ChannelSecrets, field: str) -> None:
    problems = secrets.problems("secrets", PUBLIC_ONLY)
    assert [p.field for p in problems] == [f"secrets.{field}"]


def test_public_destinations_and_allowed_exceptions_are_saved() -> None:
    public = ChannelSecrets(
        outbound_url="https://hooks.example.com/x", smtp_host="smtp.example.com"
    )
    assert public.problems("secrets", PUBLIC_ONLY) == []
    relay = ChannelSecrets(smtp_host="127.0.0.1", smtp_port=2525)
    assert relay.problems("secrets", EgressPolicy.parse("127.0.0.1:2525")) == []
    assert relay.problems("secrets", EgressPolicy.parse("127.0.0.1:25"))


async def test_a_webhook_name_resolving_to_loopback_fails_for_good_and_posts_nothing(
    receiver: tuple[int, list[tuple[str, str]]],
) -> None:
    port, seen = receiver
    with pytest.raises(SendFailed, match="not a public address") as failed:
        await _post(PUBLIC_ONLY, f"http://localhost:{port}/hook")
    assert failed.value.permanent
    assert seen == []


async def test_an_allowed_webhook_is_posted_by_its_checked_address_with_its_host_kept(
    receiver: tuple[int, list[tuple[str, str]]],
) -> None:
    port, seen = receiver
    await _post(EgressPolicy.parse(f"127.0.0.1:{port}"), f"http://localhost:{port}/hook")
    assert seen == [("/hook", f"localhost:{port}")]


async def test_an_smtp_host_resolving_to_loopback_fails_for_good_and_mails_nothing(
    mailbox: MailSink,
) -> None:
    secrets = ChannelSecrets(
        smtp_host="localhost", smtp_port=mailbox.port, smtp_security=SmtpSecurity.NONE
    )
    with pytest.raises(SendFailed, match="not a public address") as failed:
        await SmtpChannel(5.0, PUBLIC_ONLY).send(_account(Channel.EMAIL, secrets), _message())
    assert failed.value.permanent
    assert mailbox.to("buyer@example.com") == []

    allowed = SmtpChannel(5.0, EgressPolicy.parse(f"127.0.0.1:{mailbox.port}"))
    await allowed.send(_account(Channel.EMAIL, secrets), _message())
    assert len(mailbox.to("buyer@example.com")) == 1


async def test_a_name_that_does_not_resolve_is_tried_again() -> None:
    """DNS may be down for a moment: that is not a refusal, the message is retried."""
    with pytest.raises(SendFailed, match="does not resolve") as failed:
        await _post(PUBLIC_ONLY, "https://no-such-host.invalid/hook")
    assert not failed.value.permanent
    mail = ChannelSecrets(smtp_host="no-such-host.invalid", smtp_security=SmtpSecurity.NONE)
    with pytest.raises(SendFailed, match="does not resolve") as failed:
        await SmtpChannel(5.0, PUBLIC_ONLY).send(_account(Channel.EMAIL, mail), _message())
    assert not failed.value.permanent
