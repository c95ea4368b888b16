"""Webhook posts over HTTP (httpx)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from rules.app.webhooks import TransportError


class HttpxTransport:
    def __init__(self, *, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return response.status_code

    async def close(self) -> None:
        await self._client.aclose()
