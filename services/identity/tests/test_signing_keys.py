"""Signing keys: zero-downtime rotation, LocalKeySource, the JWKS over HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from crosstalk_common.auth.tokens import public_key_from_jwk, token_kid, verify_access_token
from crosstalk_common.db.engine import create_engine
from crosstalk_common.errors import Unauthenticated
from identity.adapters.jwks_http import JwksHttpServer
from identity.domain.signing import KeyPolicy
from services.identity.tests.conftest import PASSWORD, Env, FakeClock, build_env

TTL = 900


@pytest.fixture
async def own_env(fresh_database: str, clock: FakeClock) -> Env:
    engine = create_engine(fresh_database)
    built = await build_env(
        engine,
        clock,
        key_policy=KeyPolicy(
            max_age=timedelta(days=30),
            publish_ahead=timedelta(minutes=10),
            token_ttl=timedelta(seconds=TTL),
        ),
    )
    yield built  # type: ignore[misc]
    await engine.dispose()


async def test_start_creates_one_key(own_env: Env) -> None:
    keys = await own_env.key_source.public_keys()
    assert len(keys) == 1
    await own_env.keys.maintain()  # idempotent
    assert await own_env.key_source.public_keys() == keys


async def test_tokens_of_the_previous_key_verify_until_retirement_plus_ttl(
    own_env: Env, clock: FakeClock
) -> None:
    _, admin, _ = await own_env.sign_up()
    old = await own_env.app.auth.login(admin.email, PASSWORD)
    old_kid = token_kid(old.access_token)

    new_kid = await own_env.app.rotate_signing_key()
    assert new_kid != old_kid
    new = await own_env.app.auth.login(admin.email, PASSWORD)
    assert token_kid(new.access_token) == new_kid
    published = await own_env.key_source.public_keys()
    assert set(published) == {old_kid, new_kid}
    verify_access_token(old.access_token, published)
    verify_access_token(new.access_token, published)

    clock.advance(TTL - 1)  # the old key's last tokens are still valid
    assert old_kid in await own_env.key_source.public_keys()
    clock.advance(1)
    await own_env.keys.maintain()  # forgets it
    published = await own_env.key_source.public_keys()
    assert set(published) == {new_kid}
    with pytest.raises(Unauthenticated):
        verify_access_token(old.access_token, published)
    verify_access_token(new.access_token, published)


async def test_automatic_rotation_publishes_the_next_key_ahead(
    own_env: Env, clock: FakeClock
) -> None:
    _, admin, _ = await own_env.sign_up()
    (current,) = await own_env.key_source.public_keys()
    clock.advance(timedelta(days=30).total_seconds() - 11 * 60)
    await own_env.keys.maintain()
    assert list(await own_env.key_source.public_keys()) == [current]  # not due yet
    clock.advance(60)
    await own_env.keys.maintain()
    published = set(await own_env.key_source.public_keys())
    assert len(published) == 2  # the next key is published ...
    pair = await own_env.app.auth.login(admin.email, PASSWORD)
    assert token_kid(pair.access_token) == current  # ... but does not sign yet
    clock.advance(10 * 60)
    pair = await own_env.app.auth.login(admin.email, PASSWORD)
    (upcoming,) = published - {current}
    assert token_kid(pair.access_token) == upcoming
    await own_env.keys.maintain()
    assert len(await own_env.key_source.public_keys()) == 2  # no third key


async def _http(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()  # the server closes the connection
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


async def test_jwks_over_http_verifies_a_signed_token(own_env: Env) -> None:
    _, admin, _ = await own_env.sign_up()
    await own_env.app.rotate_signing_key()  # two keys published
    pair = await own_env.app.auth.login(admin.email, PASSWORD)
    server = JwksHttpServer(own_env.keys.jwks, "127.0.0.1", 0)
    stop = asyncio.Event()
    worker = asyncio.create_task(server.run(stop))
    for _ in range(100):
        if server.port:
            break
        await asyncio.sleep(0.01)
    port = server.port
    try:
        status, headers, body = await _http(
            port, b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: identity\r\n\r\n"
        )
        assert status == "HTTP/1.1 200 OK"
        assert headers["Content-Type"] == "application/json"
        assert headers["Connection"] == "close"
        document = json.loads(body)
        assert list(document) == ["keys"]
        assert len(document["keys"]) == 2
        for jwk in document["keys"]:
            assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
            assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == (
                "OKP",
                "Ed25519",
                "EdDSA",
                "sig",
            )
        keys = {jwk["kid"]: public_key_from_jwk(jwk) for jwk in document["keys"]}
        claims = verify_access_token(pair.access_token, keys)
        assert claims.subject == f"members/{admin.id}"

        status, _, _ = await _http(port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == "HTTP/1.1 404 Not Found"
        status, headers, _ = await _http(
            port, b"HEAD /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert status == "HTTP/1.1 405 Method Not Allowed"
        assert headers["Allow"] == "GET"
        status, _, _ = await _http(
            port, b"POST /.well-known/jwks.json HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        )
        assert status == "HTTP/1.1 405 Method Not Allowed"
        status, _, _ = await _http(port, b"nonsense\r\n\r\n")
        assert status == "HTTP/1.1 400 Bad Request"
    finally:
        stop.set()
        await asyncio.wait_for(worker, 5)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
