"""Admission control: a service takes on no more calls than it can finish in time.

Without it an overloaded service accepts every call, queues them all in its
event loop and answers each one late; callers time out at random and their
retries add to the queue. With it a service runs at most ``limit`` calls at
once. A call that finds no free slot waits for one, in arrival order, for at
most ``wait`` seconds (never past its own deadline); if none frees up it is
refused at once with RESOURCE_EXHAUSTED (reason ``OVERLOADED``), which tells
the caller to come back after ``retry_after`` seconds (``google.rpc.RetryInfo``
and a ``retry-after`` header, the HTTP 429 ``Retry-After`` behind the gateway).
A call whose deadline has already passed is refused with DEADLINE_EXCEEDED
before any work is done for it; the deadline of an admitted call is recorded
(``crosstalk_common.grpc.deadlines``) so its calls to peers end with it.

Health checks and reflection are never refused: an orchestrator must be able
to tell a busy service from a dead one. The interceptor sits right inside the
error mapping, before token checks, so a refused call costs next to nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc

from crosstalk_common.config import env_duration, env_int
from crosstalk_common.errors import ResourceExhausted
from crosstalk_common.grpc.deadlines import serve_until
from crosstalk_common.grpc.unary_interceptor import Behavior, UnaryInterceptor, run
from crosstalk_common.serving import serving_a_caller

OVERLOADED = "OVERLOADED"


@dataclass(frozen=True)
class AdmissionLimits:
    """``limit`` calls at once; a call waits ``wait`` s for a slot, then is told
    to retry after ``retry_after`` s."""

    limit: int = 64
    wait: float = 0.05
    retry_after: float = 1.0

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"admission limit must be at least 1, got {self.limit}")
        if self.wait < 0 or self.retry_after < 0:
            raise ValueError("admission wait and retry_after must not be negative")

    @classmethod
    def from_env(cls) -> AdmissionLimits:
        """``CROSSTALK_MAX_IN_FLIGHT``, ``CROSSTALK_ADMISSION_WAIT``, ``CROSSTALK_RETRY_AFTER``."""
        default = cls()
        return cls(
            limit=env_int("CROSSTALK_MAX_IN_FLIGHT", default.limit),
            wait=env_duration(
                "CROSSTALK_ADMISSION_WAIT", timedelta(seconds=default.wait)
            ).total_seconds(),
            retry_after=env_duration(
                "CROSSTALK_RETRY_AFTER", timedelta(seconds=default.retry_after)
            ).total_seconds(),
        )


class AdmissionInterceptor(UnaryInterceptor):
    def __init__(self, limits: AdmissionLimits) -> None:
        super().__init__()
        self.limits = limits
        self._free = limits.limit
        # Tickets of calls waiting for a slot, oldest first; a ticket whose
        # caller gave up is cancelled and skipped.
        self._waiting: deque[asyncio.Future[None]] = deque()

    def wrap(self, behavior: Behavior, method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await self._enter(context)
            try:
                return await run(behavior, request, context)
            finally:
                self._leave()

        return call

    async def _enter(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        remaining = context.time_remaining()
        serve_until(remaining)
        serving_a_caller()
        if remaining is not None and remaining <= 0:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline had passed")
        self._drop_abandoned()
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        wait = self.limits.wait if remaining is None else min(self.limits.wait, remaining)
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(ticket)
        try:
            await asyncio.wait_for(asyncio.shield(ticket), timeout=wait)
        except TimeoutError:
            if ticket.done() and not ticket.cancelled():
                # The slot came with the timeout: keep it, unless the caller is out of time.
                await self._give_up_if_late(context)
                return
            ticket.cancel()
            raise ResourceExhausted(
                "the service is at capacity; retry after the advised delay",
                reason=OVERLOADED,
                metadata={"limit": str(self.limits.limit)},
                retry_after=self.limits.retry_after,
            ) from None
        except BaseException:
            if ticket.done() and not ticket.cancelled():
                self._leave()  # granted, but the caller is gone: pass the slot on
            else:
                ticket.cancel()
            raise
        await self._give_up_if_late(context)

    async def _give_up_if_late(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """A slot granted after the caller's deadline passed goes to the next waiter:
        the call would only run for a caller who has stopped listening."""
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            self._leave()
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline had passed")

    def _leave(self) -> None:
        """Hand the slot to the oldest waiter still waiting, or free it."""
        self._drop_abandoned()
        if self._waiting:
            self._waiting.popleft().set_result(None)
        else:
            self._free += 1

    def _drop_abandoned(self) -> None:
        while self._waiting and self._waiting[0].done():
            self._waiting.popleft()
