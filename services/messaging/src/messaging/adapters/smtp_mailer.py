"""Member notification e-mails over SMTP: the standard library's smtplib in a worker
thread, from a sender configured in messaging's settings (``MESSAGING_NOTIFY_SMTP_*``)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from crosstalk_common.clock import utc_now
from crosstalk_common.config import load_settings
from messaging.app.notification_ports import MailFailed


@dataclass(frozen=True)
class NotifySmtpSettings:
    """``MESSAGING_NOTIFY_SMTP_HOST`` unset: notifications are in-app only."""

    notify_smtp_host: str = ""
    notify_smtp_port: int = 25
    # "none", "starttls" or "tls"
    notify_smtp_security: str = "none"
    notify_smtp_username: str = ""
    notify_smtp_password: str = field(default="", repr=False)
    notify_smtp_from: str = "crosstalk@localhost"
    notify_smtp_timeout: float = 20.0

    @classmethod
    def from_env(cls) -> NotifySmtpSettings:
        settings = load_settings(cls, "MESSAGING")
        if settings.notify_smtp_security not in ("none", "starttls", "tls"):
            raise ValueError(
                "MESSAGING_NOTIFY_SMTP_SECURITY must be none, starttls or tls, "
                f"got {settings.notify_smtp_security!r}"
            )
        return settings

    @property
    def configured(self) -> bool:
        return bool(self.notify_smtp_host)


class SmtpMailer:
    def __init__(self, settings: NotifySmtpSettings) -> None:
        self._settings = settings

    async def send(self, to: str, subject: str, body: str) -> None:
        mail = EmailMessage()
        sender = self._settings.notify_smtp_from
        mail["From"] = formataddr(("Crosstalk", sender))
        mail["To"] = to
        mail["Subject"] = subject
        mail["Date"] = format_datetime(utc_now())
        mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        mail.set_content(body, charset="utf-8", cte="quoted-printable")
        await asyncio.to_thread(self._send, mail, sender, to)

    def _send(self, mail: EmailMessage, sender: str, to: str) -> None:
        s = self._settings
        host, port = s.notify_smtp_host, s.notify_smtp_port
        try:
            if s.notify_smtp_security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, port, timeout=s.notify_smtp_timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(host, port, timeout=s.notify_smtp_timeout)
            with client:
                if s.notify_smtp_security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if s.notify_smtp_username:
                    client.login(s.notify_smtp_username, s.notify_smtp_password)
                client.send_message(mail, from_addr=sender, to_addrs=[to])
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            detail = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            raise MailFailed(f"{host}:{port} answered {exc.smtp_code} {detail}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailFailed(f"{host}:{port} refused the recipient: {exc.recipients}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailFailed(f"{host}:{port}: {exc!r}") from None
