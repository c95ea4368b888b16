"""The e-mail channel's outbound side: one SMTP conversation per message, with the
standard library's smtplib in a worker thread (no SMTP client in the event loop).

The mail is UTF-8 text (quoted-printable, so ASCII such as an order number stays
byte for byte), From the account's ``from_address`` (or its ``address``), with a
Message-ID made from the message's id (the same on every attempt, so a repeat is
recognisable) and, when it answers a customer's mail, In-Reply-To and References so
it threads. 5xx answers fail the message for good; 4xx answers and connection
problems are tried again.

The connection goes to an address the SMTP host resolves to and the egress policy
allows (``crosstalk_common.egress``), while TLS still checks the certificate
against the host's name; a host that resolves to anything else fails the message
for good (one that does not resolve is tried again).
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from crosstalk_common.clock import utc_now
from crosstalk_common.egress import PUBLIC_ONLY, EgressPolicy, EgressRefused
from messaging.domain.channels import SmtpSecurity
from messaging.domain.delivery import ChannelAccount, OutboundMessage, SendFailed, SendResult


def message_id_for(message: OutboundMessage, from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "crosstalk.invalid"
    return f"<{message.message_id}@{domain}>"


def build_mail(account: ChannelAccount, message: OutboundMessage) -> EmailMessage:
    secrets = account.secrets
    sender = secrets.from_address or account.config.address
    mail = EmailMessage()
    mail["From"] = formataddr((account.config.display_name, sender))
    mail["To"] = message.recipient.external_id
    mail["Subject"] = message.subject or account.config.display_name
    mail["Date"] = format_datetime(utc_now())
    mail["Message-ID"] = message_id_for(message, sender)
    if message.in_reply_to:
        mail["In-Reply-To"] = message.in_reply_to
    if message.references:
        mail["References"] = " ".join(message.references)
    mail.set_content(message.text, charset="utf-8", cte="quoted-printable")
    if message.language:  # after set_content, which drops every Content-* header
        mail["Content-Language"] = message.language
    return mail


class _PinnedSMTP(smtplib.SMTP):
    """smtplib.SMTP that connects to ``address`` while it speaks to (and, with
    STARTTLS, checks the certificate of) the host it is given."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's hook for opening the connection; ``host`` stays the name.
        return socket.create_connection((self._address, port), timeout, self.source_address)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL that connects to ``address``; TLS checks the host's name."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        plain = socket.create_connection((self._address, port), timeout, self.source_address)
        return self.context.wrap_socket(plain, server_hostname=host)


class SmtpChannel:
    def __init__(self, timeout_seconds: float, egress: EgressPolicy | None = None) -> None:
        self._timeout = timeout_seconds
        self._egress = egress or PUBLIC_ONLY

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        secrets = account.secrets
        sender = secrets.from_address or account.config.address
        if not secrets.smtp_host or not sender:
            raise SendFailed(
                "the channel has no secrets.smtp_host and from address to send with",
                permanent=True,
            )
        mail = build_mail(account, message)
        try:
            addresses = await self._egress.resolve(secrets.smtp_host, secrets.port)
        except EgressRefused as exc:
            raise SendFailed(
                f"{secrets.smtp_host}:{secrets.port}: {exc}", permanent=not exc.retryable
            ) from None
        await asyncio.to_thread(self._send, account, mail, sender, addresses[0])
        return SendResult(external_id=str(mail["Message-ID"]))

    def _send(self, account: ChannelAccount, mail: EmailMessage, sender: str, address: str) -> None:
        secrets = account.secrets
        host, port = secrets.smtp_host, secrets.port
        try:
            if secrets.smtp_security is SmtpSecurity.TLS:
                client: smtplib.SMTP = _PinnedSMTPSSL(address, host, port, self._timeout)
            else:
                client = _PinnedSMTP(address, host, port, self._timeout)
            with client:
                if secrets.smtp_security is SmtpSecurity.STARTTLS:
                    client.starttls(context=ssl.create_default_context())
                if secrets.smtp_username:
                    client.login(secrets.smtp_username, secrets.smtp_password)
                client.send_message(mail, from_addr=sender, to_addrs=[str(mail["To"])])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendFailed(
                f"{host}:{port} refused the recipient: {exc.recipients}",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SendFailed(
                f"{host}:{port} refused the login ({exc.smtp_code})", permanent=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            detail = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            raise SendFailed(
                f"{host}:{port} answered {exc.smtp_code} {detail}",
                permanent=exc.smtp_code >= 500,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"{host}:{port}: {exc!r}") from None
