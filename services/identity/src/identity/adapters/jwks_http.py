"""The JWKS over plain HTTP, for Envoy's jwt_authn remote_jwks.

A deliberately tiny HTTP/1.1 responder on asyncio streams: it answers
``GET /.well-known/jwks.json`` with ``{"keys": [...]}``, other paths with 404,
other methods (HEAD included) with 405, and closes every connection after one
response. It listens on 127.0.0.1 by default: only the local gateway needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

JWKS_PATH = "/.well-known/jwks.json"
_MAX_HEAD_BYTES = 8192
_READ_TIMEOUT_SECONDS = 5.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}

JwksSource = Callable[[], Awaitable[list[dict[str, str]]]]


def _response(status: int, body: bytes, extra: tuple[str, ...] = ()) -> bytes:
    head = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        "Content-Type: application/json" if status == 200 else "Content-Type: text/plain",
        f"Content-Length: {len(body)}",
        "Cache-Control: public, max-age=60" if status == 200 else "Cache-Control: no-store",
        "Connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


class JwksHttpServer:
    def __init__(self, source: JwksSource, host: str = "127.0.0.1", port: int = 50151) -> None:
        self._source = source
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        log.info("JWKS served on http://%s:%d%s", self._host, self.port, JWKS_PATH)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def run(self, stop: asyncio.Event) -> None:
        """A ServiceDefinition worker: serve until ``stop`` is set (drain)."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()

    async def _answer(self, reader: asyncio.StreamReader) -> bytes:
        try:
            head = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), timeout=_READ_TIMEOUT_SECONDS
            )
        except asyncio.LimitOverrunError:
            return _response(400, b"request head too large\n")
        except (asyncio.IncompleteReadError, TimeoutError):
            return b""
        if len(head) > _MAX_HEAD_BYTES:
            return _response(400, b"request head too large\n")
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return _response(400, b"bad request line\n")
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if method != "GET":
            return _response(405, b"only GET is allowed\n", ("Allow: GET",))
        if path != JWKS_PATH:
            return _response(404, b"not found\n")
        try:
            keys = await self._source()
        except Exception:
            log.exception("JWKS: reading the keys failed")
            return _response(500, b"keys unavailable\n")
        body = json.dumps({"keys": keys}, separators=(",", ":")).encode()
        return _response(200, body)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            response = await self._answer(reader)
            if response:
                writer.write(response)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
