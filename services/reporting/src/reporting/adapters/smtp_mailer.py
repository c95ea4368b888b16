"""Mails report files over SMTP (the standard library's smtplib, in a thread)."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from reporting.app.ports import MailFailed


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout_seconds: float = 20.0

    async def send(
        self,
        recipients: Sequence[str],
        subject: str,
        body: str,
        attachment: tuple[str, str, bytes],
    ) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message.set_content(body)
        name, content_type, content = attachment
        maintype, _, subtype = content_type.partition(";")[0].partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
        try:
            await asyncio.to_thread(self._send, message, list(recipients))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailFailed(f"{type(exc).__name__}: {exc}") from exc

    def _send(self, message: EmailMessage, recipients: list[str]) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(message, to_addrs=recipients)
