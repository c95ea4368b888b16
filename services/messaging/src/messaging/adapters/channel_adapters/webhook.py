"""The API/webhook channel: an outbound message is POSTed as JSON to the account's
``outbound_url``, signed the way inbound deliveries are (HMAC-SHA256 with the account's
signing secret over ``"<timestamp>."`` and the body).

Headers: ``content-type: application/json``, ``x-crosstalk-timestamp`` (Unix seconds),
``x-crosstalk-signature`` (``sha256=<hex>``), ``idempotency-key`` (the message's id, the
same on every attempt). A 2xx answer is sent; 408, 429 and 5xx, or no answer, are tried
again; any other answer fails the message for good. A JSON answer with a string
``message_id`` is kept as the message's id on the channel.

The POST goes to an address the URL's host resolves to and the egress policy allows
(``crosstalk_common.egress``: public addresses only, unless the operator allows
more); a host that resolves to anything else fails the message for good (one
that does not resolve is tried again, as a connection error would be).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from crosstalk.common.v1 import channel_pb2
from crosstalk_common.api.channels import channel_to_pb
from crosstalk_common.egress import PUBLIC_ONLY, EgressPolicy, EgressRefused
from messaging.domain.channels import signature
from messaging.domain.delivery import ChannelAccount, OutboundMessage, SendFailed, SendResult

_RETRYABLE = {408, 425, 429}


def webhook_body(message: OutboundMessage) -> bytes:
    return json.dumps(
        {
            "message_id": message.message_id,
            "conversation": f"conversations/{message.conversation_id}",
            "customer": message.customer,
            "recipient": {
                "channel": channel_pb2.Channel.Name(channel_to_pb(message.recipient.channel)),
                "external_id": message.recipient.external_id,
                "store": message.recipient.store,
            },
            "text": message.text,
            "language": message.language,
            "subject": message.subject,
            "in_reply_to": message.in_reply_to,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


class WebhookChannel:
    def __init__(
        self,
        timeout_seconds: float,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        egress: EgressPolicy | None = None,
    ) -> None:
        self._egress = egress or PUBLIC_ONLY
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds, transport=transport, follow_redirects=False
        )
        self._clock = clock

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        secrets = account.secrets
        if not secrets.outbound_url or not secrets.signing_secret:
            raise SendFailed(
                "the channel has no secrets.outbound_url and secrets.signing_secret to send with",
                permanent=True,
            )
        body = webhook_body(message)
        timestamp = str(int(self._clock()))
        headers = {
            "content-type": "application/json",
            "x-crosstalk-timestamp": timestamp,
            "x-crosstalk-signature": signature(secrets.signing_secret, timestamp, body),
            "idempotency-key": message.idempotency_key,
        }
        try:
            pinned = await self._egress.pin_url(secrets.outbound_url)
        except EgressRefused as exc:
            raise SendFailed(
                f"POST {secrets.outbound_url}: {exc}", permanent=not exc.retryable
            ) from None
        headers["host"] = pinned.host_header
        try:
            response = await self._client.post(
                pinned.url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": pinned.server_name},
            )
        except httpx.HTTPError as exc:
            raise SendFailed(f"POST {secrets.outbound_url}: {exc!r}") from None
        if response.is_success:
            return SendResult(external_id=_their_id(response))
        reason = f"POST {secrets.outbound_url} answered {response.status_code}"
        retryable = response.status_code >= 500 or response.status_code in _RETRYABLE
        raise SendFailed(reason, permanent=not retryable)

    async def close(self) -> None:
        await self._client.aclose()


def _their_id(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    found = data.get("message_id") if isinstance(data, dict) else None
    return found[:200] if isinstance(found, str) else ""
