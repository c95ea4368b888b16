"""Webhook posts over HTTP (httpx), to an address the egress policy allows.

The URL's host is resolved first and the POST goes to one of its addresses,
each allowed by ``crosstalk_common.egress`` (public only, unless the operator
allows more), with the Host header and TLS's server name kept; a host that
resolves to anything else is refused before any connection.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from crosstalk_common.egress import PUBLIC_ONLY, EgressPolicy, EgressRefused
from rules.app.webhooks import DestinationRefused, TransportError


class HttpxTransport:
    def __init__(self, *, timeout: float = 5.0, egress: EgressPolicy | None = None) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._egress = egress or PUBLIC_ONLY

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            pinned = await self._egress.pin_url(url)
        except EgressRefused as exc:
            if exc.retryable:  # the name did not resolve: like no answer, tried again
                raise TransportError(str(exc)) from exc
            raise DestinationRefused(str(exc)) from exc
        try:
            response = await self._client.post(
                pinned.url,
                content=body,
                headers={**headers, "host": pinned.host_header},
                extensions={"sni_hostname": pinned.server_name},
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return response.status_code

    async def close(self) -> None:
        await self._client.aclose()
