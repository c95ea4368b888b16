"""Member notifications on a migrated database (SQLite, or PostgreSQL with
CROSSTALK_TEST_DB=postgres): the in-app list scoped to its member, marking read, and the
e-mail copies sent to a real SMTP server (aiosmtpd) by the worker, with retries."""

from __future__ import annotations

import email
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from crosstalk_common.errors import InvalidArgument, NotFound
from messaging.adapters.smtp_mailer import NotifySmtpSettings, SmtpMailer
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.notification_ports import MailFailed
from messaging.app.notifications import (
    NotificationEmails,
    Notifications,
    NotifyRequest,
    disable_member_contact,
    keep_member_contact,
)
from messaging.domain.notifications import EmailState, MemberContact

NewUow = Callable[[], MessagingUnitOfWork]
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Mailbox:
    """An aiosmtpd handler keeping what it receives; answers ``refuse`` to RCPT when set."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse = ""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def mailer(port: int) -> SmtpMailer:
    return SmtpMailer(
        NotifySmtpSettings(
            notify_smtp_host="127.0.0.1",
            notify_smtp_port=port,
            notify_smtp_from="alerts@crosstalk.example",
            notify_smtp_timeout=5,
        )
    )


async def contacts(new_uow: NewUow, tenant: str, *members: str) -> None:
    for member in members:
        await keep_member_contact(
            new_uow,
            tenant,
            MemberContact(member, f"{member}@team.example", member.title()),
            T0,
        )


async def test_the_list_is_the_callers_own_newest_first_and_marking_read_counts(
    new_uow: NewUow, tenant: str
) -> None:
    clock = Clock()
    notifications = Notifications(new_uow, email_enabled=False, clock=clock)
    first = await notifications.notify(
        tenant, NotifyRequest(["ana", "bo", "ana"], "  First  ", "one", "rules/r-1")
    )
    assert [n.recipient for n in first] == ["ana", "bo"]
    clock.now = T0 + timedelta(minutes=1)
    (second,) = await notifications.notify(
        tenant, NotifyRequest(["ana"], "", "x" * 5000, "system", conversation_id="c-1")
    )
    assert second.title == "Notification"
    assert len(second.text) == 2000
    assert second.email_state is EmailState.NONE

    page, unread = await notifications.page(tenant, "ana", unread_only=False, after=[], limit=10)
    assert [n.id for n in page] == [second.id, first[0].id]
    assert unread == 2
    one, _ = await notifications.page(tenant, "ana", unread_only=False, after=[], limit=1)
    after = [one[0].created_at.isoformat(), one[0].id]
    rest, _ = await notifications.page(tenant, "ana", unread_only=False, after=after, limit=10)
    assert [n.id for n in rest] == [first[0].id]

    clock.now = T0 + timedelta(minutes=2)
    marked = await notifications.mark_read(tenant, "ana", second.id)
    assert marked.read_at == clock.now
    clock.now = T0 + timedelta(minutes=3)
    again = await notifications.mark_read(tenant, "ana", second.id)
    assert again.read_at == T0 + timedelta(minutes=2)
    page, unread = await notifications.page(tenant, "ana", unread_only=True, after=[], limit=10)
    assert ([n.id for n in page], unread) == ([first[0].id], 1)

    with pytest.raises(NotFound):  # bo's, not ana's
        await notifications.mark_read(tenant, "ana", first[1].id)
    with pytest.raises(NotFound):
        await notifications.mark_read("another-tenant", "ana", second.id)
    assert await notifications.page(
        "another-tenant", "ana", unread_only=False, after=[], limit=9
    ) == ([], 0)
    with pytest.raises(InvalidArgument):
        await notifications.notify(tenant, NotifyRequest([], "t", "x", "system"))


async def test_email_copies_go_to_members_with_an_address_over_smtp(
    new_uow: NewUow, tenant: str, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    ana = f"ana-{uuid.uuid4().hex[:6]}"
    await contacts(new_uow, tenant, ana)
    await contacts(new_uow, tenant, "cy")
    await disable_member_contact(new_uow, tenant, "cy", T0)
    notifications = Notifications(new_uow, email_enabled=True)
    made = await notifications.notify(
        tenant,
        NotifyRequest(
            [ana, "bo", "cy"],
            "Reembolso > 500 €",
            "Pedido ES-2024-00042",
            "rules/r-9",
            conversation_id="c-7",
            customer="customers/k-1",
        ),
    )
    assert [(n.recipient, n.email_state) for n in made] == [
        (ana, EmailState.PENDING),
        ("bo", EmailState.NONE),  # no address known
        ("cy", EmailState.NONE),  # disabled
    ]
    worker = NotificationEmails(new_uow, mailer(port))
    while await worker.send_pending():  # other tests' pending copies too, if any
        pass
    ours = [m for m in mailbox.received if m[1] == [f"{ana}@team.example"]]
    assert len(ours) == 1
    sender, _, raw = ours[0]
    assert sender == "alerts@crosstalk.example"
    mail = email.message_from_bytes(raw, policy=default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "[Crosstalk] Reembolso > 500 €"
    body = mail.get_content()
    assert "Pedido ES-2024-00042" in body
    assert "conversations/c-7" in body
    page, _ = await notifications.page(tenant, ana, unread_only=False, after=[], limit=5)
    assert (page[0].email_state, page[0].email_attempts) == (EmailState.SENT, 1)
    assert await worker.send_pending() == 0  # sent once


async def test_a_refused_email_is_retried_with_backoff_then_failed(
    new_uow: NewUow, tenant: str, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    member = f"m-{uuid.uuid4().hex[:6]}"
    await contacts(new_uow, tenant, member)
    clock = Clock()
    (made,) = await Notifications(new_uow, email_enabled=True, clock=clock).notify(
        tenant, NotifyRequest([member], "Escalated", "", "system")
    )
    mailbox.refuse = "550 no such user"
    worker = NotificationEmails(
        new_uow,
        mailer(port),
        clock=clock,
        max_attempts=2,
        first_retry=timedelta(minutes=1),
        batch=500,
    )

    async def state() -> tuple[EmailState, int, str]:
        page, _ = await Notifications(new_uow).page(
            tenant, member, unread_only=False, after=[], limit=1
        )
        return page[0].email_state, page[0].email_attempts, page[0].email_error

    await worker.send_pending()
    status, attempts, error = await state()
    assert (status, attempts) == (EmailState.PENDING, 1)
    assert "550" in error
    await worker.send_pending()  # not due yet: the backoff holds it
    assert (await state())[1] == 1
    clock.now = T0 + timedelta(minutes=2)
    await worker.send_pending()
    assert (await state())[:2] == (EmailState.FAILED, 2)
    assert made.id  # the in-app entry stays


async def test_the_mailer_reports_an_unreachable_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(MailFailed):
        await mailer(closed_port).send("a@b.example", "s", "b")


def test_smtp_settings_come_from_the_environment() -> None:
    from crosstalk_common.config import load_settings

    settings = load_settings(
        NotifySmtpSettings,
        "MESSAGING",
        {"MESSAGING_NOTIFY_SMTP_HOST": "mail.example", "MESSAGING_NOTIFY_SMTP_PORT": "2525"},
    )
    assert settings.configured
    assert (settings.notify_smtp_host, settings.notify_smtp_port) == ("mail.example", 2525)
    assert not NotifySmtpSettings().configured


class FlakyMailer:
    """Fails the first ``failures`` sends to ``to``, then takes its mail (other mail, left
    pending by other tests in this database, is taken and not counted)."""

    def __init__(self, to: str, failures: int) -> None:
        self.to = to
        self.failures = failures
        self.sent: list[tuple[str, str]] = []
        self.tries = 0

    async def send(self, to: str, subject: str, body: str) -> None:
        if to != self.to:
            return
        self.tries += 1
        if self.tries <= self.failures:
            raise MailFailed("421 try again later")
        self.sent.append((to, subject))


async def test_retries_wait_twice_as_long_each_time(new_uow: NewUow, tenant: str) -> None:
    member = f"m-{uuid.uuid4().hex[:6]}"
    await contacts(new_uow, tenant, member)
    clock = Clock()
    await Notifications(new_uow, email_enabled=True, clock=clock).notify(
        tenant, NotifyRequest([member], "Escalated", "", "system")
    )
    flaky = FlakyMailer(f"{member}@team.example", failures=2)
    worker = NotificationEmails(
        new_uow, flaky, clock=clock, max_attempts=5, first_retry=timedelta(seconds=30), batch=500
    )

    await worker.send_pending()  # attempt 1 fails: next at +30 s
    clock.now = T0 + timedelta(seconds=29)
    await worker.send_pending()
    assert flaky.tries == 1
    clock.now = T0 + timedelta(seconds=30)
    await worker.send_pending()  # attempt 2 fails: next at +30 + 60 s
    assert flaky.tries == 2
    clock.now = T0 + timedelta(seconds=89)
    await worker.send_pending()
    assert flaky.tries == 2
    clock.now = T0 + timedelta(seconds=90)
    await worker.send_pending()
    assert flaky.sent == [(f"{member}@team.example", "[Crosstalk] Escalated")]
