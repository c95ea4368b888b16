"""Domain errors <-> rich gRPC statuses (AIP-193).

Server side, ``ErrorMappingInterceptor`` turns a ``DomainError`` raised by a
servicer into a status with a canonical code and ``google.rpc`` details
(always an ``ErrorInfo``; ``BadRequest``, ``ResourceInfo`` or
``PreconditionFailure`` where they apply). Anything else becomes INTERNAL
with a generic message; the real error is only logged.

Client side, ``domain_error_from_rpc_error`` rebuilds the domain error from a
peer's status, so a service can handle or re-raise what a peer reported.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeAlias, TypeVar, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    is_valid_reason,
)
from crosstalk_common.grpc.channels import MAX_RECONNECT_BACKOFF_SECONDS
from crosstalk_common.grpc.unary_interceptor import WrappedHandlers

log = logging.getLogger(__name__)

STATUS_DETAILS_KEY = "grpc-status-details-bin"
INTERNAL_MESSAGE = "internal error; it has been logged, please retry later"

_TRequest = TypeVar("_TRequest")
_TResponse = TypeVar("_TResponse")

# Quoted: grpc.RpcMethodHandler is generic in the stubs only.
_Handler: TypeAlias = "grpc.RpcMethodHandler[_TRequest, _TResponse] | None"

_CODE_OF: dict[type[DomainError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Aborted: grpc.StatusCode.ABORTED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_code_of(err: DomainError) -> grpc.StatusCode:
    """The canonical code of an error class (a bare ``DomainError`` is INTERNAL)."""
    for klass in type(err).__mro__:
        code = _CODE_OF.get(klass)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def _packed(detail: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def _details_of(err: DomainError, domain: str) -> list[Message]:
    details: list[Message] = [
        error_details_pb2.ErrorInfo(reason=err.reason, domain=domain, metadata=err.metadata)
    ]
    if isinstance(err, InvalidArgument):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in err.violations
                ]
            )
        )
    elif isinstance(err, NotFound | AlreadyExists):
        details.append(
            error_details_pb2.ResourceInfo(
                resource_type=err.resource_type,
                resource_name=err.resource_name,
                description=err.message,
            )
        )
    elif isinstance(err, FailedPrecondition) and err.violations:
        details.append(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=v.type, subject=v.subject, description=v.description
                    )
                    for v in err.violations
                ]
            )
        )
    retry_after = getattr(err, "retry_after", None)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(retry_after * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    return details


def to_status_proto(err: DomainError, domain: str) -> status_pb2.Status:
    """The ``google.rpc.Status`` describing ``err``; ``domain`` names the service."""
    code = status_code_of(err)
    return status_pb2.Status(
        code=code.value[0],
        message=err.message,
        details=[_packed(d) for d in _details_of(err, domain)],
    )


RETRY_AFTER_KEY = "retry-after"


def to_rpc_status(err: DomainError, domain: str) -> grpc.Status:
    """A ``grpc.Status`` for ``context.abort_with_status``.

    An error with ``retry_after`` also carries a ``retry-after`` trailer in whole
    seconds (at least 1): a trailers-only gRPC answer is one block of headers, so
    the gateway hands it to REST clients as the HTTP ``Retry-After`` header.
    """
    status = rpc_status.to_status(to_status_proto(err, domain))
    retry_after = getattr(err, "retry_after", None)
    if retry_after is None:
        return cast(grpc.Status, status)
    seconds = str(max(1, math.ceil(retry_after)))
    return cast(
        grpc.Status,
        status._replace(trailing_metadata=(*status.trailing_metadata, (RETRY_AFTER_KEY, seconds))),
    )


def _internal_status(domain: str) -> grpc.Status:
    internal = DomainError(INTERNAL_MESSAGE, reason="INTERNAL")
    return to_rpc_status(internal, domain)


# --- server side --------------------------------------------------------------------------


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Turns exceptions raised by servicer methods into statuses.

    A ``DomainError`` aborts the RPC with its rich status. An RPC the servicer
    aborted itself passes through untouched, and so does a cancellation (the
    caller's deadline ran out); a call that has its status already is not aborted
    again. ``NotImplementedError`` (what the
    generated base servicer raises for RPCs not built yet) is UNIMPLEMENTED.
    Any other exception is logged
    with its stack trace and reported as INTERNAL with a generic message.
    """

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self._wrapped = WrappedHandlers()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[_Handler[_TRequest, _TResponse]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_TRequest, _TResponse] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return self._wrapped.get(method, handler, lambda beneath: self._wrap(beneath, method))

    def _wrap(
        self, handler: grpc.RpcMethodHandler[_TRequest, _TResponse], method: str
    ) -> grpc.RpcMethodHandler[_TRequest, _TResponse]:
        codec: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._single(handler.unary_unary, method), **codec
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streamed(handler.unary_stream, method), **codec
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._single(handler.stream_unary, method), **codec
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._streamed(handler.stream_stream, method), **codec
            )
        return handler

    def _single(
        self, behavior: Callable[..., Any], method: str
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                result = behavior(request, context)
                return await result if inspect.isawaitable(result) else result
            except Exception as exc:
                await self._abort(exc, context, method)

        return call

    def _streamed(
        self, behavior: Callable[..., Any], method: str
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]:
        async def stream(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            try:
                result = behavior(request, context)
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        yield item
                elif inspect.isawaitable(result):
                    # A handler that writes with ``context.write`` and returns nothing.
                    await result
                else:
                    for item in cast(Iterable[Any], result):
                        yield item
            except Exception as exc:
                await self._abort(exc, context, method)

        return stream

    async def _abort(
        self, exc: Exception, context: grpc.aio.ServicerContext[Any, Any], method: str
    ) -> None:
        if isinstance(exc, grpc.aio.AbortError):
            raise exc
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # The call was cancelled (the caller's deadline ran out) and something
            # failed on the way out: a domain error is no news, anything else is
            # logged once; the cancellation goes on, as grpc expects of a
            # cancelled call (aborting it would report to no one).
            if not isinstance(exc, DomainError):
                log.error("%s failed after its call was cancelled", method, exc_info=exc)
            raise asyncio.CancelledError from exc
        if context.done():
            # Aborted already: a second abort would only fail ("Abort already called!").
            if type(exc).__module__.startswith("grpc."):
                # grpc could not send that abort's status: the call had ended in
                # its core (a deadline passed while the call waited to be served).
                log.debug("%s ended before its status could be sent: %r", method, exc)
            elif not isinstance(exc, DomainError):
                log.error("%s failed after its call had ended", method, exc_info=exc)
            return
        if isinstance(exc, DomainError):
            await context.abort_with_status(to_rpc_status(exc, self.domain))
        elif database_unreachable(exc):
            # PostgreSQL restarting or out of reach: the call changed nothing (its
            # transaction never committed) and may be retried, like any peer that is
            # down, once the pool has connected again.
            log.warning("%s: the database is out of reach: %s", method, exc)
            down = Unavailable(
                "the database is out of reach; retry later",
                reason="DATABASE_UNAVAILABLE",
                retry_after=DATABASE_RETRY_AFTER,
            )
            await context.abort_with_status(to_rpc_status(down, self.domain))
        elif isinstance(exc, NotImplementedError):
            # The generated base servicer raises this for RPCs not built yet.
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented yet")
        else:
            log.exception("unexpected error in %s", method, exc_info=exc)
            await context.abort_with_status(_internal_status(self.domain))


DATABASE_RETRY_AFTER = 1.0


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is a database error of a lost or refused connection.

    SQLAlchemy marks an error on a connection the server cut
    (``connection_invalidated``) and drops the pool's older connections, so the
    next call connects anew; a connection the server refuses while it starts or
    stops raises psycopg's ``OperationalError``. Both say "retry later", unlike
    a bad statement. Duck-typed: the gRPC layer imports no database driver.
    """
    if getattr(exc, "connection_invalidated", False):
        return True
    orig = getattr(exc, "orig", None)
    return orig is not None and any(
        cls.__name__ == "OperationalError" and cls.__module__.startswith("psycopg")
        for cls in type(orig).__mro__
    )


# --- client side --------------------------------------------------------------------------


def status_proto_from_rpc_error(err: grpc.RpcError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` a server attached to a failed call, if any."""
    trailing = getattr(err, "trailing_metadata", None)
    metadata = trailing() if callable(trailing) else None
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                return None
    return None


def _unpacked(details: Iterable[any_pb2.Any]) -> dict[str, Message]:
    kinds: tuple[type[Message], ...] = (
        error_details_pb2.ErrorInfo,
        error_details_pb2.BadRequest,
        error_details_pb2.ResourceInfo,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.RetryInfo,
    )
    found: dict[str, Message] = {}
    for packed in details:
        for kind in kinds:
            if packed.TypeName() == kind.DESCRIPTOR.full_name:
                detail = kind()
                packed.Unpack(detail)
                found.setdefault(kind.DESCRIPTOR.full_name, detail)
    return found


_LOCAL_FAILURES = {
    grpc.StatusCode.UNAVAILABLE: "a service this request needs is unavailable; try again shortly",
    grpc.StatusCode.DEADLINE_EXCEEDED: "a service this request needs did not answer in time",
    grpc.StatusCode.INTERNAL: "a call to a service this request needs failed",
    grpc.StatusCode.UNKNOWN: "a call to a service this request needs failed",
}


def domain_error_from_rpc_error(err: grpc.aio.AioRpcError) -> DomainError:
    """Rebuild the domain error a peer reported (UNAVAILABLE and timeouts -> Unavailable)."""
    code = err.code()
    message = err.details() or code.name.lower().replace("_", " ")
    status = status_proto_from_rpc_error(err)
    local = status is None and code in _LOCAL_FAILURES
    if local:
        # No status from a peer: this process's gRPC library failed the call (no
        # connection, deadline, reset stream). Its text names internal addresses and
        # ports, which are for the log, not for whoever called us. (A deadline's text
        # says nothing more than its code, and under overload there are many.)
        if code is not grpc.StatusCode.DEADLINE_EXCEEDED:
            log.warning("a peer call failed: %s: %s", code.name, message)
        message = _LOCAL_FAILURES[code]
    found = _unpacked(status.details) if status is not None else {}
    info = found.get(error_details_pb2.ErrorInfo.DESCRIPTOR.full_name)
    reason: str | None = None
    metadata: dict[str, str] = {}
    if isinstance(info, error_details_pb2.ErrorInfo):
        reason = info.reason if is_valid_reason(info.reason) else None
        metadata = dict(info.metadata)
    options: dict[str, Any] = {"reason": reason, "metadata": metadata}

    if code is grpc.StatusCode.INVALID_ARGUMENT:
        bad = found.get(error_details_pb2.BadRequest.DESCRIPTOR.full_name)
        violations = [
            FieldViolation(v.field, v.description)
            for v in (bad.field_violations if isinstance(bad, error_details_pb2.BadRequest) else ())
        ]
        return InvalidArgument(violations or [FieldViolation("", message)], message, **options)
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS):
        res = found.get(error_details_pb2.ResourceInfo.DESCRIPTOR.full_name)
        rtype, rname = (
            (res.resource_type, res.resource_name)
            if isinstance(res, error_details_pb2.ResourceInfo)
            else (metadata.get("resourceType", ""), metadata.get("resourceName", ""))
        )
        if code is grpc.StatusCode.NOT_FOUND:
            return NotFound(rtype, rname, message=message, **options)
        return AlreadyExists(rtype, rname, message, **options)
    if code is grpc.StatusCode.FAILED_PRECONDITION:
        failure = found.get(error_details_pb2.PreconditionFailure.DESCRIPTOR.full_name)
        preconditions = [
            PreconditionViolation(v.type, v.subject, v.description)
            for v in (
                failure.violations
                if isinstance(failure, error_details_pb2.PreconditionFailure)
                else ()
            )
        ]
        return FailedPrecondition(preconditions, message, **options)
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(metadata.get("permission", ""), message, **options)
    simple: dict[grpc.StatusCode, type[DomainError]] = {
        grpc.StatusCode.ABORTED: Aborted,
        grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
        grpc.StatusCode.UNAVAILABLE: Unavailable,
        grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
        grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    }
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        options["reason"] = reason or "DEADLINE_EXCEEDED"
    retry = found.get(error_details_pb2.RetryInfo.DESCRIPTOR.full_name)
    if isinstance(retry, error_details_pb2.RetryInfo) and code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        options["retry_after"] = retry.retry_delay.ToNanoseconds() / 1e9
    elif local and code is grpc.StatusCode.UNAVAILABLE:
        # Unreachable: the channel tries to connect again within its longest backoff.
        options["retry_after"] = MAX_RECONNECT_BACKOFF_SECONDS
    if code in simple:
        return simple[code](message, **options)
    return DomainError(message, reason=reason or f"PEER_{code.name}", metadata=metadata)
