"""A gRPC call cancelled while its unit of work is inside a statement (the
caller's deadline runs out, grpc.aio cancels the handler) leaves nothing
behind: no write of it commits, its connection goes back to the pool usable,
and nothing is logged as an unexpected error.

Found by bench.main_job_load on PostgreSQL: a call cancelled while the
outbox's COPY started left psycopg's connection in the middle of the COPY;
the rollback failed with "another command is already in progress", the
connection was never given back, and ErrorMappingInterceptor, handed that
error, tried to abort a call that had ended. The COPY case needs the moment
between PostgreSQL accepting the COPY and the client hearing so: a proxy in
front of the database holds that answer back until the deadline has passed.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import outbox_table
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from crosstalk_common.grpc.errors import ErrorMappingInterceptor

metadata = MetaData()
outbox = outbox_table(metadata)
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", String(20), nullable=False),
)
SERVICE = "test.v1.WriteService"
METHODS = ("SlowStatement", "HeldCopy", "Write")
# PostgreSQL's CopyInResponse (the server is ready for a COPY's rows) and the
# start of a CancelRequest (what a client sends, on a new connection, to stop
# its running statement).
COPY_IN_RESPONSE = b"G"
CANCEL_REQUEST = struct.pack("!ii", 16, 80877102)


class CopyStartHeldBack:
    """A TCP proxy to PostgreSQL that, once armed, holds back its next
    CopyInResponse until the client asks to cancel its statement (as if the
    answer had crossed the cancellation on the way); nothing else is delayed."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.armed = False
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.release.set()
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, from_server=False)),
            asyncio.create_task(self._pump(up_reader, writer, from_server=True)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        for closing in (writer, up_writer):
            closing.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_server: bool
    ) -> None:
        while data := await reader.read(65536):
            if from_server and self.armed and data.startswith(COPY_IN_RESPONSE):
                self.armed = False
                self.held.set()
                await self.release.wait()
            writer.write(data)
            await writer.drain()
            if not from_server and data.startswith(CANCEL_REQUEST):
                self.release.set()


@dataclass
class Served:
    engine: AsyncEngine
    channel: grpc.aio.Channel
    ended: dict[str, asyncio.Event] = field(default_factory=dict)
    proxy: CopyStartHeldBack | None = None

    async def call(self, method: str, deadline: float) -> None:
        stub = self.channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        await stub(empty_pb2.Empty(), timeout=deadline)

    async def until_ended(self, method: str) -> None:
        await self.ended[method].wait()

    async def committed(self) -> tuple[list[str], int]:
        async with self.engine.connect() as conn:
            labels = (await conn.execute(select(items.c.label).order_by(items.c.id))).scalars()
            events = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
            return list(labels), int(events)


def _slow_statement(engine: AsyncEngine) -> Any:
    if engine.dialect.name == "postgresql":
        return text("SELECT pg_sleep(30)")
    # About a second of SQLite's time (no sleep function there).
    return text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
        "SELECT count(*) FROM n"
    )


@pytest.fixture
async def served(db_url: str) -> AsyncIterator[Served]:
    proxy = None
    url = make_url(db_url)
    if url.get_backend_name() == "postgresql":
        proxy = CopyStartHeldBack(url.host or "127.0.0.1", url.port or 5432)
        url = url.set(host="127.0.0.1", port=await proxy.start())
    # One connection: the call after a cancelled one gets the same pool slot.
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    ended = {name: asyncio.Event() for name in METHODS}
    label = iter(range(1, 1000))

    async def write(finish: Callable[[SqlUnitOfWork], Awaitable[None]]) -> None:
        async with SqlUnitOfWork(sessions, outbox) as uow:
            n = next(label)
            await uow.session.execute(insert(items).values(id=n, label=f"item {n}"))
            await uow.emit("tenants/t1", customer_events_pb2.CustomerTagged(customer="customers/1"))
            await finish(uow)

    async def slow_statement(uow: SqlUnitOfWork) -> None:
        await uow.session.execute(_slow_statement(engine))
        await uow.commit()

    async def held_copy(uow: SqlUnitOfWork) -> None:
        assert proxy is not None
        for _ in range(10):  # more than a few: the outbox rows go in with a COPY
            await uow.emit("tenants/t1", customer_events_pb2.CustomerTagged(customer="customers/1"))
        proxy.armed = True
        await uow.commit()

    async def commit(uow: SqlUnitOfWork) -> None:
        await uow.commit()

    def method(name: str, finish: Callable[[SqlUnitOfWork], Awaitable[None]]) -> Any:
        async def behave(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
            try:
                await write(finish)
            finally:
                ended[name].set()
            return empty_pb2.Empty()

        return grpc.unary_unary_rpc_method_handler(
            behave,
            request_deserializer=empty_pb2.Empty.FromString,
            response_serializer=empty_pb2.Empty.SerializeToString,
        )

    handlers = {
        "SlowStatement": method("SlowStatement", slow_statement),
        "HeldCopy": method("HeldCopy", held_copy),
        "Write": method("Write", commit),
    }
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor("probe.crosstalk.io")])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Served(engine, channel, ended, proxy)
    finally:
        await server.stop(None)
        if proxy is not None:
            await proxy.stop()
        await engine.dispose()


async def _cancelled_then_next(served: Served, method: str, caplog: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await served.call(method, deadline=0.5)
    assert failed.value.code() in (
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
    )
    await served.until_ended(method)
    assert served.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await served.committed() == ([], 0)

    # The pool's only slot serves the next call, which commits.
    await served.call("Write", deadline=20)
    assert await served.committed() == (["item 2"], 1)
    troubles = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert troubles == [], [r.getMessage() for r in troubles]


async def test_a_call_cancelled_inside_a_statement_leaves_nothing_behind(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="crosstalk_common")
    await _cancelled_then_next(served, "SlowStatement", caplog)


async def test_a_call_cancelled_while_its_outbox_copy_starts_leaves_nothing_behind(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    if served.proxy is None:
        pytest.skip("COPY is PostgreSQL's (SQLite's outbox rows go in with INSERTs)")
    caplog.set_level(logging.INFO)
    await _cancelled_then_next(served, "HeldCopy", caplog)
    # The deadline did run out inside the COPY's start, and psycopg cancelled it.
    assert served.proxy.held.is_set()
    assert served.proxy.release.is_set()
