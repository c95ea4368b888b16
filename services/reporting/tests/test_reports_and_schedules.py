"""Exports as jobs, scheduled reports mailed to a real SMTP server (aiosmtpd),
and dashboards, on a migrated database."""

from __future__ import annotations

import asyncio
import email
import io
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.events.v1 import reporting_events_pb2
from crosstalk_common.bus.envelope import read_event
from crosstalk_common.errors import Aborted, InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from reporting.adapters.cron_calendar import CroniterCalendar
from reporting.adapters.report_files import SpreadsheetRenderer
from reporting.adapters.smtp_mailer import SmtpMailer
from reporting.adapters.tables import outbox
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.dashboards import Dashboards
from reporting.app.metrics import ReportingService
from reporting.app.reports import ReportJobs, ScheduleCaller
from reporting.domain.catalogue import Dimension
from reporting.domain.dashboards import Tile
from reporting.domain.querying import MetricQuery
from reporting.domain.reports import FileFormat, FileState, ReportSpec, Schedule
from services.reporting.tests.test_metrics_from_events import END, START, consume, script

EVERYTHING = Visibility(DataScope.ALL)
NewUow = Callable[[], ReportingUnitOfWork]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def jobs(new_uow: NewUow, clock: Clock, port: int | None = None) -> ReportJobs:
    mailer = SmtpMailer("127.0.0.1", port, "reports@crosstalk.test") if port else None
    return ReportJobs(
        new_uow,  # type: ignore[arg-type]
        ReportingService(new_uow),
        SpreadsheetRenderer(),
        mailer,
        CroniterCalendar(),
        clock,
    )


async def test_an_export_is_a_job_whose_xlsx_holds_the_queried_numbers(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    await consume(sessions, script(tenant))
    clock = Clock(datetime(2026, 3, 10, tzinfo=UTC))
    runner = jobs(new_uow, clock)
    spec = ReportSpec(
        metrics=("messages_received", "first_response_time"),
        start=START,
        end=END,
        format=FileFormat.XLSX,
        time_zone="Asia/Shanghai",
        group_bys=(Dimension.CHANNEL,),
    )
    file = await runner.export(tenant, EVERYTHING, "anna", spec)
    assert file.state is FileState.PENDING
    while await runner.build_next():
        pass
    built = await runner.file(tenant, EVERYTHING, "anna", file.id)
    assert built.state is FileState.SUCCEEDED
    book = load_workbook(io.BytesIO(built.content), read_only=True)
    assert book.sheetnames == ["messages_received", "first_response_time"]
    rows = list(book["messages_received"].iter_rows(values_only=True))
    assert rows[0][:3] == ("bucket_start", "channel", "value (count)")
    answer = await ReportingService(new_uow).query(
        tenant,
        EVERYTHING,
        MetricQuery(
            "messages_received",
            START,
            END,
            time_zone="Asia/Shanghai",
            group_bys=(Dimension.CHANNEL,),
        ),
    )
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        (p.start.isoformat(), p.groups[0], p.value) for p in answer.current.points
    ]
    async with sessions() as session:
        payloads = (await session.execute(select(outbox.c.payload))).scalars().all()
    ready = [read_event(p).payload for p in payloads]
    assert any(
        isinstance(r, reporting_events_pb2.ReportReady)
        and r.report_file == f"reportFiles/{file.id}"
        for r in ready
    )


async def test_a_report_file_is_its_owners_and_its_tenants(new_uow: NewUow, tenant: str) -> None:
    runner = jobs(new_uow, Clock(datetime(2026, 3, 10, tzinfo=UTC)))
    spec = ReportSpec(("messages_received",), START, END, FileFormat.CSV)
    file = await runner.export(tenant, Visibility(DataScope.OWN, member_id="anna"), "anna", spec)
    ben = Visibility(DataScope.OWN, member_id="ben")
    with pytest.raises(NotFound):
        await runner.file(tenant, ben, "ben", file.id)
    with pytest.raises(NotFound):
        await runner.file("other-" + tenant, EVERYTHING, "anna", file.id)
    assert (await runner.file(tenant, EVERYTHING, "boss", file.id)).id == file.id


async def test_an_export_names_each_bad_field(new_uow: NewUow, tenant: str) -> None:
    runner = jobs(new_uow, Clock(datetime(2026, 3, 10, tzinfo=UTC)))
    spec = ReportSpec(
        ("messages_received", "nope"), START, START - timedelta(days=1), FileFormat.CSV
    )
    with pytest.raises(InvalidArgument) as caught:
        await runner.export(tenant, EVERYTHING, "anna", spec)
    assert {v.field for v in caught.value.violations} == {"end_time", "metrics[1]"}


async def test_a_scheduled_report_runs_once_at_its_time_in_its_zone_and_arrives_by_mail(
    sessions: async_sessionmaker[AsyncSession],
    new_uow: NewUow,
    tenant: str,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    await consume(sessions, script(tenant))
    clock = Clock(datetime(2026, 3, 5, 12, tzinfo=UTC))  # a Thursday
    runner = jobs(new_uow, clock, port)
    draft = Schedule(
        id="",
        tenant_id=tenant,
        owner="boss",
        visibility=EVERYTHING,
        display_name="Weekly service",
        metrics=("messages_received", "csat"),
        lookback=timedelta(days=7),
        cron="0 8 * * MON",
        time_zone="Asia/Shanghai",
        format=FileFormat.XLSX,
        recipients=("lead@shop.test",),
        enabled=True,
    )
    with pytest.raises(InvalidArgument) as caught:
        await runner.create_schedule(replace(draft, cron="61 8 * * MON", recipients=("x",)))
    assert {v.field for v in caught.value.violations} == {
        "scheduled_report.cron",
        "scheduled_report.recipients[0]",
    }
    schedule = await runner.create_schedule(draft)
    # Monday 9 March, 08:00 in Shanghai is 00:00 UTC.
    assert schedule.next_run_at == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    assert await runner.start_due_schedules() == 0
    clock.now = datetime(2026, 3, 9, 0, 0, 30, tzinfo=UTC)
    assert await runner.start_due_schedules() == 1
    assert await runner.start_due_schedules() == 0  # started once
    assert await runner.build_next()
    await asyncio.sleep(0)
    assert len(inbox.messages) == 1
    recipients, raw = inbox.messages[0]
    assert recipients == ["lead@shop.test"]
    mail = email.message_from_bytes(raw)
    (attachment,) = [p for p in mail.walk() if p.get_filename()]
    book = load_workbook(io.BytesIO(attachment.get_payload(decode=True)), read_only=True)
    assert book.sheetnames == ["messages_received", "csat"]
    stored = await runner.schedule(tenant, schedule.id)
    assert stored.next_run_at == datetime(2026, 3, 16, 0, 0, tzinfo=UTC)
    assert stored.last_report_file


def daily(tenant: str, **changes: Any) -> Schedule:
    """The boss's daily CSV of messages received (everything in scope), with ``changes``."""
    schedule = Schedule(
        "",
        tenant,
        "boss",
        EVERYTHING,
        "Daily",
        ("messages_received",),
        timedelta(days=1),
        "0 9 * * *",
        "UTC",
        FileFormat.CSV,
        ("a@b.test",),
        True,
    )
    return replace(schedule, **changes)


async def test_updating_a_schedule_checks_its_version(new_uow: NewUow, tenant: str) -> None:
    runner = jobs(new_uow, Clock(datetime(2026, 3, 5, tzinfo=UTC)))
    schedule = await runner.create_schedule(daily(tenant))
    renamed = await runner.update_schedule(
        tenant, schedule.id, lambda s: replace(s, display_name="Daily volume")
    )
    assert (renamed.display_name, renamed.version) == ("Daily volume", 2)

    def stale(current: Schedule) -> Schedule:
        if current.version != schedule.version:
            raise Aborted.etag_mismatch("scheduledReports/x")
        return current

    with pytest.raises(Aborted):
        await runner.update_schedule(tenant, schedule.id, stale)
    with pytest.raises(NotFound):
        await runner.schedule("other-" + tenant, schedule.id)


async def test_a_cron_that_names_no_date_is_refused_and_stores_nothing(
    new_uow: NewUow, tenant: str
) -> None:
    runner = jobs(new_uow, Clock(datetime(2026, 3, 5, tzinfo=UTC)))
    draft = daily(tenant, cron="0 9 30 2 *")  # 30 February: parses, never fires
    with pytest.raises(InvalidArgument) as caught:
        await runner.create_schedule(draft)
    assert [v.field for v in caught.value.violations] == ["scheduled_report.cron"]
    assert "never fires" in caught.value.violations[0].description
    assert await runner.schedules(tenant, None, 10) == []
    stored = await runner.create_schedule(replace(draft, cron="0 9 29 2 *"))  # leap years
    assert stored.next_run_at == datetime(2028, 2, 29, 9, tzinfo=UTC)
    with pytest.raises(InvalidArgument) as caught:
        await runner.update_schedule(tenant, stored.id, lambda s: replace(s, cron="0 9 31 4 *"))
    assert [v.field for v in caught.value.violations] == ["scheduled_report.cron"]
    assert (await runner.schedule(tenant, stored.id)).cron == "0 9 29 2 *"


async def test_a_lookback_of_millennia_is_refused_by_name(new_uow: NewUow, tenant: str) -> None:
    """It reached before year 1 when the range it would ask for was checked: a 500."""
    runner = jobs(new_uow, Clock(datetime(2026, 3, 5, tzinfo=UTC)))
    with pytest.raises(InvalidArgument) as caught:
        await runner.create_schedule(daily(tenant, lookback=timedelta(seconds=315_576_000_000)))
    assert [v.field for v in caught.value.violations] == ["scheduled_report.lookback"]


async def test_only_its_owner_or_someone_who_sees_as_much_sees_or_changes_a_schedule(
    new_uow: NewUow, tenant: str
) -> None:
    runner = jobs(new_uow, Clock(datetime(2026, 3, 5, tzinfo=UTC)))
    schedule = await runner.create_schedule(daily(tenant, recipients=("boss@shop.test",)))
    sales_lead = ScheduleCaller("lead", Visibility(DataScope.DEPARTMENT, "lead", frozenset({"s"})))
    agent = ScheduleCaller("agent", Visibility(DataScope.OWN, "agent"))

    def to_me(current: Schedule) -> Schedule:
        return replace(current, recipients=("me@elsewhere.test",))

    for narrower in (sales_lead, agent):
        # For them it does not exist: its recipients and what it reports are the owner's.
        with pytest.raises(NotFound):
            await runner.update_schedule(tenant, schedule.id, to_me, narrower)
        with pytest.raises(NotFound):
            await runner.delete_schedule(tenant, schedule.id, lambda s: None, narrower)
        with pytest.raises(NotFound):
            await runner.schedule(tenant, schedule.id, narrower)
        assert await runner.schedules(tenant, None, 10, narrower) == []
    assert (await runner.schedule(tenant, schedule.id)).recipients == ("boss@shop.test",)

    # The owner, and another member who sees everything, may.
    owner = ScheduleCaller("boss", Visibility(DataScope.OWN, "boss"))
    renamed = await runner.update_schedule(
        tenant, schedule.id, lambda s: replace(s, display_name="Company"), owner
    )
    assert renamed.display_name == "Company"
    admin = ScheduleCaller("admin", EVERYTHING)
    assert (await runner.schedule(tenant, schedule.id, admin)).id == schedule.id
    await runner.delete_schedule(tenant, schedule.id, lambda s: None, admin)
    with pytest.raises(NotFound):
        await runner.schedule(tenant, schedule.id)


async def test_a_dashboard_starts_from_the_roles_tiles_and_keeps_the_members_own(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    await consume(sessions, script(tenant))
    boards = Dashboards(new_uow, ReportingService(new_uow), Clock(END))  # type: ignore[arg-type]
    agent = Visibility(DataScope.OWN, member_id="anna")
    view = await boards.view(tenant, agent, "anna", DataScope.OWN, frozenset({"reports.read"}))
    assert view.default
    assert [t.metric for t, _ in view.tiles] == [
        "messages_received",
        "unread_backlog",
        "first_response_time",
        "csat",
    ]
    tiles = (Tile("My inbox", "messages_received", lookback=timedelta(days=5)),)
    version = await boards.save(tenant, "anna", tiles, None)
    view = await boards.view(tenant, agent, "anna", DataScope.OWN, frozenset())
    assert not view.default
    assert [(t.title, a.current.summary.value) for t, a in view.tiles] == [("My inbox", 2.0)]
    with pytest.raises(Aborted):
        await boards.save(tenant, "anna", tiles, version + 5)
    with pytest.raises(InvalidArgument) as caught:
        await boards.save(tenant, "anna", (Tile("", "nope"),), version)
    assert {v.field for v in caught.value.violations} == {
        "dashboard.tiles[0].title",
        "dashboard.tiles[0].metric",
    }
    manager = await boards.view(
        tenant, EVERYTHING, "boss", DataScope.ALL, frozenset({"reports.export"})
    )
    assert "order_value" in [t.metric for t, _ in manager.tiles]


async def test_a_members_page_of_schedules_skips_those_they_may_not_see(
    new_uow: NewUow, tenant: str
) -> None:
    runner = jobs(new_uow, Clock(datetime(2026, 3, 5, tzinfo=UTC)))
    agent = ScheduleCaller("agent", Visibility(DataScope.OWN, "agent"))
    visible = []
    for i in range(7):  # the boss's between the agent's, more than a page of them
        await runner.create_schedule(daily(tenant, recipients=(f"boss{i}@shop.test",)))
        await runner.create_schedule(daily(tenant, recipients=(f"boss{i}b@shop.test",)))
        mine = daily(tenant, owner="agent", visibility=agent.visibility)
        visible.append((await runner.create_schedule(mine)).id)
    pages, after = [], None
    while True:
        page = await runner.schedules(tenant, after, 3, agent)
        pages.append([s.id for s in page])
        if len(page) < 3:
            break
        assert page[-1].created_at is not None
        after = (page[-1].created_at, page[-1].id)
    listed = [i for p in pages for i in p]  # in (created_at, id) order: all made at one time
    assert listed == sorted(visible)
    assert [len(p) for p in pages] == [3, 3, 1]
