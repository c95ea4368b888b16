"""`make run`'s demo mailbox: an SMTP server on loopback that keeps what it gets.

The demo tenant's e-mail channel sends through it, so a reply to a demo e-mail
conversation is delivered (state SENT) and can be read: each mail is written to
``var/mail/`` as an ``.eml`` file, the customer's language and all. It is the
only loopback address the stack's services may reach (``CROSSTALK_EGRESS_ALLOW``,
ADR 0027).
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

DEFAULT_PORT = 2525


class DemoMailbox:
    def __init__(self, directory: Path, port: int = DEFAULT_PORT) -> None:
        self.directory = directory
        self.port = port
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd calls it by this name
        with self._lock:
            number = next(self._numbers)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{stamp}-{number:04d}.eml").write_bytes(bytes(envelope.content))
        return "250 OK"

    def start(self) -> DemoMailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
