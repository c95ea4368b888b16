"""A database that restarts or refuses connections answers UNAVAILABLE, not INTERNAL.

Found by the chaos tests (tests/chaos, issue 19): restarting PostgreSQL under load made
IngestMessage answer 500 INTERNAL ("the database system is shutting down", "terminating
connection due to administrator command"). Such a call committed nothing and may be
retried once the pool has connected again: UNAVAILABLE with retry advice (HTTP 503).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import empty_pb2
from sqlalchemy import exc as sa_exc

from crosstalk_common.grpc.errors import ErrorMappingInterceptor, database_unreachable

SERVICE = "test.v1.DatabaseProbe"

REFUSED = sa_exc.OperationalError(
    "SELECT 1",
    {},
    psycopg.OperationalError("connection failed: the database system is shutting down"),
)
CUT = sa_exc.OperationalError(
    "SELECT 1",
    {},
    psycopg.errors.AdminShutdown("terminating connection"),
    connection_invalidated=True,
)
BAD_STATEMENT = sa_exc.OperationalError(
    "SELECT * FROM nowhere", {}, sqlite3.OperationalError("no such table: nowhere")
)
RAISED = {"Refused": REFUSED, "Cut": CUT, "BadStatement": BAD_STATEMENT}


def test_lost_and_refused_connections_are_told_from_bad_statements() -> None:
    assert database_unreachable(REFUSED)
    assert database_unreachable(CUT)
    assert not database_unreachable(BAD_STATEMENT)
    assert not database_unreachable(RuntimeError("boom"))


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    codec: dict[str, Any] = {
        "request_deserializer": empty_pb2.Empty.FromString,
        "response_serializer": empty_pb2.Empty.SerializeToString,
    }

    def raising(name: str) -> grpc.RpcMethodHandler[Any, Any]:
        async def behave(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
            raise RAISED[name]

        return grpc.unary_unary_rpc_method_handler(behave, **codec)

    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor("probe.crosstalk.io")])
    handlers = {name: raising(name) for name in RAISED}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
            yield chan
    finally:
        await server.stop(None)


async def _code(channel: grpc.aio.Channel, method: str) -> grpc.aio.AioRpcError:
    call = channel.unary_unary(
        f"/{SERVICE}/{method}",
        request_serializer=empty_pb2.Empty.SerializeToString,
        response_deserializer=empty_pb2.Empty.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call(empty_pb2.Empty(), timeout=5)
    return failed.value


@pytest.mark.parametrize("method", ["Refused", "Cut"])
async def test_an_unreachable_database_is_unavailable_with_retry_advice(
    channel: grpc.aio.Channel, method: str
) -> None:
    err = await _code(channel, method)
    assert err.code() is grpc.StatusCode.UNAVAILABLE
    assert "shutting down" not in (err.details() or "")  # nothing of the server leaks
    assert dict(err.trailing_metadata() or ()).get("retry-after") == "1"


async def test_a_bad_statement_stays_internal(channel: grpc.aio.Channel) -> None:
    assert (await _code(channel, "BadStatement")).code() is grpc.StatusCode.INTERNAL
