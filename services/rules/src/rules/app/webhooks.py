"""The webhook action, which rules applies itself (core_loop §3).

A fired rule's ``call_webhook`` action is staged as ``rule.action.webhook``
through the outbox like every other action; rules' own consumer then posts
the JSON body to the URL, signed with HMAC-SHA256 under the tenant's webhook
secret, retrying with exponential backoff, and records the outcome on the run.
The signature is ``sha256=<hex>`` of ``"<timestamp>.<body>"`` (the timestamp,
Unix seconds, in ``X-Crosstalk-Timestamp``), so a receiver can refuse replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.app.ports import UnitOfWork
from rules.app.runs import record_action_outcome
from rules.domain.runs import ActionStatus
from rules.domain.settings import RuleSettings

SIGNATURE_HEADER = "X-Crosstalk-Signature"
TIMESTAMP_HEADER = "X-Crosstalk-Timestamp"
RUN_HEADER = "X-Crosstalk-Run"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookTransport(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST; the HTTP status (raises OSError-like errors on network failure)."""
        ...


class TransportError(Exception):
    """The request did not get an answer (connection refused, timeout ...)."""


class DestinationRefused(TransportError):
    """The URL's host is not one the platform may reach (egress policy): no retry."""


@dataclass(frozen=True)
class WebhookRequest:
    tenant_id: str
    run: str
    action_index: int
    url: str
    body: bytes


@dataclass(frozen=True)
class Backoff:
    attempts: int = 4
    first_delay: float = 0.5
    factor: float = 2.0

    def delays(self) -> list[float]:
        return [self.first_delay * self.factor**i for i in range(self.attempts - 1)]


class WebhookCaller:
    def __init__(
        self,
        transport: WebhookTransport,
        *,
        backoff: Backoff = Backoff(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._transport = transport
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock

    async def call(
        self, request: WebhookRequest, *, new_uow: UnitOfWorkFactory[UnitOfWork]
    ) -> ActionStatus:
        """Post, retrying 5xx, 429 and transport errors with backoff; a 2xx
        succeeds, another 4xx fails at once. The outcome goes on the run."""
        async with new_uow() as uow:
            settings = await uow.settings.get(request.tenant_id) or RuleSettings(request.tenant_id)
        status, error, result = ActionStatus.FAILED, "", ""
        if not settings.webhook_secret:
            error = "the tenant has no webhook secret (UpdateRuleSettings)"
        else:
            delays = [0.0, *self._backoff.delays()]
            for attempt, delay in enumerate(delays, start=1):
                if delay:
                    await self._sleep(delay)
                stamp = int(self._clock().timestamp())
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: signature(settings.webhook_secret, stamp, request.body),
                    TIMESTAMP_HEADER: str(stamp),
                    RUN_HEADER: request.run,
                }
                try:
                    code = await self._transport.post(request.url, request.body, headers)
                except DestinationRefused as exc:
                    error = f"attempt {attempt}: {exc}"
                    break
                except TransportError as exc:
                    error = f"attempt {attempt}: {exc}"
                    continue
                if 200 <= code < 300:
                    status, error, result = ActionStatus.SUCCEEDED, "", f"HTTP {code}"
                    break
                error = f"attempt {attempt}: HTTP {code}"
                if code != 429 and code < 500:
                    break
        await record_action_outcome(
            new_uow,
            request.tenant_id,
            request.run,
            request.action_index,
            status,
            error=error,
            result=result,
        )
        return status
