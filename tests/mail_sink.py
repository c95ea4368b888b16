"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

from __future__ import annotations

import email
import socket
import threading
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


class MailSink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[tuple[str, ...], bytes]] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._received.append((tuple(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        """The messages received for ``address``, oldest first."""
        with self._lock:
            raw = [content for rcpts, content in self._received if address in rcpts]
        return [email.message_from_bytes(r) for r in raw]

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
