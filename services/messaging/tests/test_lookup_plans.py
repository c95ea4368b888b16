"""Lookups by an optional key (a channel message id, a request id, an idempotency key)
use their partial unique index instead of reading the whole table.

Each such key has a unique index over the rows where it is not ''. A query must
state that predicate in its SQL text for the planner to use the index: with only
``key = ?`` SQLite scanned every message on each ingest. This reads SQLite's own
query plan for the statements the repositories really send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from messaging.adapters.unit_of_work import MessagingUnitOfWork

from .conftest import Sessions
from .fakes import AMAZON_SENDER

NewUow = Callable[[], MessagingUnitOfWork]
Lookup = Callable[[MessagingUnitOfWork, str], Awaitable[object]]

LOOKUPS: dict[str, tuple[str, Lookup]] = {
    "message by channel message id": (
        "messages",
        lambda uow, tenant: uow.messages.find_by_external_id(tenant, AMAZON_SENDER, "mail-1"),
    ),
    "reply by request id": (
        "messages",
        lambda uow, tenant: uow.replies.find_by_request_id(tenant, "request-1"),
    ),
    "case by request id": (
        "cases",
        lambda uow, tenant: uow.cases.find_by_request(tenant, "request-1"),
    ),
    "CSAT survey by request id": (
        "csat_surveys",
        lambda uow, tenant: uow.csat.find_by_request(tenant, "request-1"),
    ),
    "webhook delivery by idempotency key": (
        "webhook_deliveries",
        lambda uow, tenant: uow.inbound_deliveries.by_idempotency_key("config-1", "key-1"),
    ),
}


@contextmanager
def statements_sent(sessions: Sessions) -> Iterator[list[tuple[str, Any]]]:
    sent: list[tuple[str, Any]] = []
    engine = sessions.kw["bind"].sync_engine

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("name", sorted(LOOKUPS))
async def test_a_lookup_by_an_optional_key_searches_its_index(
    name: str, new_uow: NewUow, sessions: Sessions, database_url: str, tenant: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("reads SQLite's query plan (the predicate in the SQL text serves both)")
    table, lookup = LOOKUPS[name]
    with statements_sent(sessions) as sent:
        async with new_uow() as uow:
            await lookup(uow, tenant)
    reads = [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT")]
    assert reads, "the lookup sent no SELECT"
    async with sessions() as session:
        connection = await session.connection()
        for statement, parameters in reads:
            plan = [
                str(row[-1])
                for row in await connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                )
            ]
            assert not any(step.startswith(f"SCAN {table}") for step in plan), (statement, plan)
            assert any(step.startswith(f"SEARCH {table} USING") for step in plan), plan
