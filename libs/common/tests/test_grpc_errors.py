"""Error mapping through a real grpc.aio server on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from crosstalk_common.grpc.errors import ErrorMappingInterceptor, domain_error_from_rpc_error

SERVICE = "test.v1.ProbeService"
DOMAIN = "probe.crosstalk.io"

RAISED: dict[str, Exception] = {
    "InvalidArgument": InvalidArgument.field("display_name", "must not be empty"),
    "NotFound": NotFound("Customer", "customers/42"),
    "AlreadyExists": AlreadyExists("Customer", "customers/42"),
    "FailedPrecondition": FailedPrecondition(
        [PreconditionViolation("CASE_STATE", "cases/7", "the case is closed")],
        reason="CASE_CLOSED",
    ),
    "Aborted": Aborted.etag_mismatch("customers/42"),
    "PermissionDenied": PermissionDenied("customers.update"),
    "Unauthenticated": Unauthenticated("missing caller identity"),
    "Unavailable": Unavailable("translation is down"),
    "ResourceExhausted": ResourceExhausted("too many exports running"),
    "Boom": RuntimeError("secret database password in this message"),
}


# Set once CancelledThenCleanupFails's cleanup has failed.
CLEANUP_FAILED = asyncio.Event()
# Set once AbortedTooLate has tried to abort.
ABORTED_TOO_LATE = asyncio.Event()


def _handlers() -> grpc.GenericRpcHandler:
    codec: dict[str, Any] = {
        "request_deserializer": empty_pb2.Empty.FromString,
        "response_serializer": empty_pb2.Empty.SerializeToString,
    }

    def raising(name: str) -> grpc.RpcMethodHandler[Any, Any]:
        async def behave(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
            raise RAISED[name]

        return grpc.unary_unary_rpc_method_handler(behave, **codec)

    async def ok(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def slow(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        await asyncio.sleep(5)
        return empty_pb2.Empty()

    async def self_aborting(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        await context.abort(grpc.StatusCode.OUT_OF_RANGE, "past the end")
        raise AssertionError("unreachable")

    async def aborted_then_cleanup_fails(request: empty_pb2.Empty, context: Any) -> None:
        try:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, "past the end")
        finally:
            raise RuntimeError("cleanup failed after the abort")

    async def cancelled_then_cleanup_fails(request: empty_pb2.Empty, context: Any) -> None:
        try:
            await asyncio.sleep(5)  # the caller's deadline runs out: grpc cancels this
        finally:
            CLEANUP_FAILED.set()
            raise RuntimeError("cleanup failed after the cancellation")

    async def aborted_too_late(request: empty_pb2.Empty, context: Any) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            # As if the call had come in past its deadline, before grpc cancelled
            # this (admission control refuses such a call): too late to abort.
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        try:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline had passed")
        finally:
            ABORTED_TOO_LATE.set()

    async def stream(request: empty_pb2.Empty, context: Any) -> AsyncIterator[empty_pb2.Empty]:
        yield empty_pb2.Empty()
        raise NotFound("Conversation", "conversations/9")

    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {name: raising(name) for name in RAISED}
    handlers["Ok"] = grpc.unary_unary_rpc_method_handler(ok, **codec)
    handlers["Slow"] = grpc.unary_unary_rpc_method_handler(slow, **codec)
    handlers["SelfAborting"] = grpc.unary_unary_rpc_method_handler(self_aborting, **codec)
    handlers["Stream"] = grpc.unary_stream_rpc_method_handler(stream, **codec)
    handlers["AbortedThenCleanupFails"] = grpc.unary_unary_rpc_method_handler(
        aborted_then_cleanup_fails, **codec
    )
    handlers["AbortedTooLate"] = grpc.unary_unary_rpc_method_handler(aborted_too_late, **codec)
    handlers["CancelledThenCleanupFails"] = grpc.unary_unary_rpc_method_handler(
        cancelled_then_cleanup_fails, **codec
    )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor(DOMAIN)])
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
            yield chan
    finally:
        await server.stop(None)


def _unary(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_unary(
        f"/{SERVICE}/{method}",
        request_serializer=empty_pb2.Empty.SerializeToString,
        response_deserializer=empty_pb2.Empty.FromString,
    )


async def _failure(channel: grpc.aio.Channel, method: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, method)(empty_pb2.Empty(), timeout=5)
    return caught.value


def _detail(status: Any, kind: Any) -> Any:
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            detail = kind()
            packed.Unpack(detail)
            return detail
    raise AssertionError(f"no {kind.DESCRIPTOR.name} in the status")


async def test_invalid_argument_carries_a_bad_request(channel: grpc.aio.Channel) -> None:
    err = await _failure(channel, "InvalidArgument")
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "invalid display_name: must not be empty"
    status = rpc_status.from_call(err)
    bad_request = _detail(status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("display_name", "must not be empty")
    ]
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", DOMAIN)

    rebuilt = domain_error_from_rpc_error(err)
    assert isinstance(rebuilt, InvalidArgument)
    assert rebuilt.violations == RAISED["InvalidArgument"].violations  # type: ignore[attr-defined]
    assert rebuilt.message == "invalid display_name: must not be empty"


async def test_not_found_carries_resource_info(channel: grpc.aio.Channel) -> None:
    err = await _failure(channel, "NotFound")
    assert err.code() is grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(err)
    resource = _detail(status, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("Customer", "customers/42")
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert info.reason == "CUSTOMER_NOT_FOUND"
    assert dict(info.metadata) == {"resourceType": "Customer", "resourceName": "customers/42"}


async def test_failed_precondition_carries_its_violations(channel: grpc.aio.Channel) -> None:
    err = await _failure(channel, "FailedPrecondition")
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    failure = _detail(rpc_status.from_call(err), error_details_pb2.PreconditionFailure)
    assert [(v.type, v.subject) for v in failure.violations] == [("CASE_STATE", "cases/7")]


EXPECTED_CODES = {
    "InvalidArgument": grpc.StatusCode.INVALID_ARGUMENT,
    "NotFound": grpc.StatusCode.NOT_FOUND,
    "AlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "FailedPrecondition": grpc.StatusCode.FAILED_PRECONDITION,
    "Aborted": grpc.StatusCode.ABORTED,
    "PermissionDenied": grpc.StatusCode.PERMISSION_DENIED,
    "Unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "Unavailable": grpc.StatusCode.UNAVAILABLE,
    "ResourceExhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@pytest.mark.parametrize("method", list(EXPECTED_CODES))
async def test_every_domain_error_round_trips(channel: grpc.aio.Channel, method: str) -> None:
    err = await _failure(channel, method)
    assert err.code() is EXPECTED_CODES[method]
    original = RAISED[method]
    assert isinstance(original, DomainError)
    rebuilt = domain_error_from_rpc_error(err)
    assert type(rebuilt) is type(original)
    assert (rebuilt.message, rebuilt.reason, rebuilt.metadata) == (
        original.message,
        original.reason,
        original.metadata,
    )
    for attribute in ("resource_type", "resource_name", "violations", "permission"):
        assert getattr(rebuilt, attribute, None) == getattr(original, attribute, None)


async def test_unexpected_errors_become_internal_without_leaking(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="crosstalk_common.grpc.errors"):
        err = await _failure(channel, "Boom")
    assert err.code() is grpc.StatusCode.INTERNAL
    assert "secret" not in (err.details() or "")
    assert "Traceback" not in (err.details() or "")
    assert "secret" not in repr(err.trailing_metadata())
    logged = [r for r in caplog.records if r.name == "crosstalk_common.grpc.errors"]
    assert logged
    assert logged[0].exc_info is not None
    assert f"/{SERVICE}/Boom" in logged[0].getMessage()


async def test_successful_and_self_aborted_calls_pass_through(channel: grpc.aio.Channel) -> None:
    assert await _unary(channel, "Ok")(empty_pb2.Empty(), timeout=5) == empty_pb2.Empty()
    err = await _failure(channel, "SelfAborting")
    assert err.code() is grpc.StatusCode.OUT_OF_RANGE
    assert err.details() == "past the end"


async def test_a_failure_after_the_call_ended_is_logged_once_and_not_aborted_again(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    """An error raised once the call has its status (it aborted, or its deadline
    ran out) is logged once; aborting again would fail ("Abort already called!")."""
    caplog.set_level(logging.DEBUG)
    err = await _failure(channel, "AbortedThenCleanupFails")
    assert (err.code(), err.details()) == (grpc.StatusCode.OUT_OF_RANGE, "past the end")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "CancelledThenCleanupFails")(empty_pb2.Empty(), timeout=0.2)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    await CLEANUP_FAILED.wait()
    await asyncio.sleep(0.1)  # what the interceptor and grpc log after the handler

    troubles = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert [
        (r.name, r.getMessage(), str(r.exc_info[1]) if r.exc_info else "") for r in troubles
    ] == [
        (
            "crosstalk_common.grpc.errors",
            f"/{SERVICE}/AbortedThenCleanupFails failed after its call had ended",
            "cleanup failed after the abort",
        ),
        (
            "crosstalk_common.grpc.errors",
            f"/{SERVICE}/CancelledThenCleanupFails failed after its call was cancelled",
            "cleanup failed after the cancellation",
        ),
    ]


async def test_an_abort_too_late_for_the_call_is_no_error(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    """grpc cannot send the status of a call that has ended (its deadline passed):
    that is no error of the service's."""
    caplog.set_level(logging.DEBUG)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "AbortedTooLate")(empty_pb2.Empty(), timeout=0.2)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    await ABORTED_TOO_LATE.wait()
    await asyncio.sleep(0.1)  # what the interceptor and grpc log after the handler
    troubles = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert troubles == [], [r.getMessage() for r in troubles]


async def test_errors_raised_mid_stream_are_mapped(channel: grpc.aio.Channel) -> None:
    call = channel.unary_stream(
        f"/{SERVICE}/Stream",
        request_serializer=empty_pb2.Empty.SerializeToString,
        response_deserializer=empty_pb2.Empty.FromString,
    )(empty_pb2.Empty(), timeout=5)
    received: list[empty_pb2.Empty] = []

    async def drain() -> None:
        async for item in call:
            received.append(item)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await drain()
    assert len(received) == 1
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    rebuilt = domain_error_from_rpc_error(caught.value)
    assert isinstance(rebuilt, NotFound)
    assert rebuilt.resource_name == "conversations/9"


async def test_deadlines_and_unreachable_peers_are_unavailable(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "Slow")(empty_pb2.Empty(), timeout=0.05)
    late = domain_error_from_rpc_error(caught.value)
    assert isinstance(late, Unavailable)
    assert late.reason == "DEADLINE_EXCEEDED"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port}") as nowhere:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary(nowhere, "Ok")(empty_pb2.Empty(), timeout=2)
    assert str(free_port) in (caught.value.details() or "")
    down = domain_error_from_rpc_error(caught.value)
    assert isinstance(down, Unavailable)
    assert down.reason == "UNAVAILABLE"
    # gRPC's own text names the address it tried; our callers are not told it.
    assert down.message == "a service this request needs is unavailable; try again shortly"
    assert down.retry_after == 1.0
    assert late.message == "a service this request needs did not answer in time"
