"""Signing keys sealed at rest with the KEK (ADR 0015): what a dump shows, KEK
rotation without logging anyone out, a wrong KEK, rows written before sealing."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.auth.tokens import token_kid, verify_access_token
from crosstalk_common.config import MissingSetting
from crosstalk_common.db.engine import create_engine, session_factory, sync_url
from crosstalk_common.db.migrations import alembic_config, upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.secrets import Kek, Keyring, SecretError, sealed_kek_id
from crosstalk_devstack.databases import service_database_urls
from identity.adapters.settings import IdentitySettings
from identity.adapters.signing_keys import SqlSigningKeys, seal_context
from identity.adapters.tables import signing_keys
from identity.domain.signing import KeyPolicy
from services.identity.tests.conftest import (
    MIGRATIONS,
    PASSWORD,
    TEST_KEYRING,
    FakeClock,
    build_env,
)


@pytest.fixture
async def engine_of_its_own(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_database)
    yield engine
    await engine.dispose()


def _keys(engine: AsyncEngine, keyring: Keyring, clock: FakeClock) -> SqlSigningKeys:
    return SqlSigningKeys(
        session_factory(engine), KeyPolicy(), keyring=keyring, clock=clock, cache_seconds=0
    )


async def _stored(engine: AsyncEngine) -> dict[str, str]:
    async with session_factory(engine)() as session:
        rows = (await session.execute(select(signing_keys))).all()
    return {r.kid: r.private_key for r in rows}


def _raw_and_pem(key: Ed25519PrivateKey) -> tuple[bytes, str]:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return raw, pem


async def test_the_stored_private_key_is_sealed_not_the_key(
    engine_of_its_own: AsyncEngine, clock: FakeClock
) -> None:
    env = await build_env(engine_of_its_own, clock)
    _, admin, _ = await env.sign_up()
    token = (await env.app.auth.login(admin.email, PASSWORD)).access_token
    ((kid, stored),) = (await _stored(engine_of_its_own)).items()
    assert kid == token_kid(token)
    assert stored.startswith("ctk1.test-kek.")
    assert "PRIVATE KEY" not in stored
    private = Ed25519PrivateKey.from_private_bytes(
        TEST_KEYRING.open(stored, context=seal_context(kid))
    )
    raw, pem = _raw_and_pem(private)
    for shown in (raw.hex(), base64.b64encode(raw).decode(), pem):
        assert shown not in stored
    # the key that opens from the row is the one that signed the token
    verify_access_token(token, {kid: private.public_key()})


async def test_a_restart_with_a_rotated_kek_keeps_tokens_valid_and_rewraps(
    engine_of_its_own: AsyncEngine, clock: FakeClock
) -> None:
    old_kek, new_kek = Kek.generate("kek-2026-01"), Kek.generate("kek-2026-12")
    before = _keys(engine_of_its_own, Keyring(old_kek), clock)
    await before.maintain()
    claims = AccessClaims(
        subject="members/m1",
        tenant_id="t1",
        permissions=frozenset(),
        data_scope=DataScope.ALL,
        department_id="",
        visible_departments=frozenset(),
        issued_at=int(clock.now.timestamp()),
        expires_at=int(clock.now.timestamp()) + 600,
        token_id="t1",
    )
    old_token = await before.sign(claims)
    assert {sealed_kek_id(v) for v in (await _stored(engine_of_its_own)).values()} == {
        "kek-2026-01"
    }

    # restart: the new KEK is current, the old one is only listed as previous
    after = _keys(engine_of_its_own, Keyring(new_kek, (old_kek,)), clock)
    await after.maintain()
    assert {sealed_kek_id(v) for v in (await _stored(engine_of_its_own)).values()} == {
        "kek-2026-12"
    }
    published = await after.public_keys()
    verify_access_token(old_token, published)  # nobody is logged out
    new_token = await after.sign(claims)
    assert token_kid(new_token) == token_kid(old_token)  # the signing key did not change
    verify_access_token(new_token, published)

    # once re-wrapped, the old KEK can be dropped from the settings
    only_new = _keys(engine_of_its_own, Keyring(new_kek), clock)
    await only_new.maintain()
    verify_access_token(await only_new.sign(claims), await only_new.public_keys())


async def test_a_wrong_kek_fails_clearly(engine_of_its_own: AsyncEngine, clock: FakeClock) -> None:
    right = Kek.generate("prod-1")
    await _keys(engine_of_its_own, Keyring(right), clock).maintain()

    unknown = _keys(engine_of_its_own, Keyring(Kek.generate("prod-2")), clock)
    with pytest.raises(SecretError, match=r"sealed with KEK 'prod-1'.*previous"):
        await unknown.maintain()
    impostor = _keys(engine_of_its_own, Keyring(Kek.generate("prod-1")), clock)
    with pytest.raises(SecretError, match=r"KEK 'prod-1' does not open"):
        await impostor.maintain()
    # and a failed start left the stored keys as they were
    assert {sealed_kek_id(v) for v in (await _stored(engine_of_its_own)).values()} == {"prod-1"}


async def test_a_sealed_key_copied_into_another_row_does_not_open(
    engine_of_its_own: AsyncEngine, clock: FakeClock
) -> None:
    keys = _keys(engine_of_its_own, TEST_KEYRING, clock)
    await keys.maintain()
    first = await keys.rotate()
    second = await keys.rotate()
    stored = await _stored(engine_of_its_own)
    async with session_factory(engine_of_its_own)() as session, session.begin():
        await session.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == second)
            .values(private_key=stored[first])
        )
    with pytest.raises(SecretError, match=second):
        await _keys(engine_of_its_own, TEST_KEYRING, clock).maintain()


async def test_rows_from_before_sealing_are_sealed_by_the_migration_and_the_first_start(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = service_database_urls(("identity",), tmp_path, "identity_kek_migration")["identity"]
    command.upgrade(alembic_config(MIGRATIONS, url), "0002")
    legacy = Ed25519PrivateKey.generate()
    _, pem = _raw_and_pem(legacy)
    sync_engine = create_sync_engine(sync_url(url))
    with sync_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO signing_keys (kid, private_key_pem, created_at, activate_at)"
                " VALUES ('legacy', :pem, :now, :now)"
            ),
            {"pem": pem, "now": clock.now},
        )
    sync_engine.dispose()
    upgrade_to_head(MIGRATIONS, url)

    engine = create_engine(url)
    try:
        keys = _keys(engine, TEST_KEYRING, clock)
        await keys.maintain()
        stored = (await _stored(engine))["legacy"]
        assert stored.startswith("ctk1.")
        assert "PRIVATE KEY" not in stored
        opened = TEST_KEYRING.open(stored, context=seal_context("legacy"))
        assert opened == _raw_and_pem(legacy)[0]  # the same key, now sealed
        assert (await keys.public_keys())["legacy"].public_bytes_raw() == (
            legacy.public_key().public_bytes_raw()
        )
    finally:
        await engine.dispose()


def test_identity_refuses_to_start_without_a_valid_kek() -> None:
    with pytest.raises(MissingSetting, match="IDENTITY_KEK is required"):
        IdentitySettings.from_env({})
    with pytest.raises(MissingSetting, match=r"IDENTITY_KEK: .*base64"):
        IdentitySettings.from_env({"IDENTITY_KEK": "k1:not base64!"})
    with pytest.raises(MissingSetting, match=r"IDENTITY_KEK_PREVIOUS\[0\]: .*32 bytes"):
        IdentitySettings.from_env(
            {
                "IDENTITY_KEK": Kek.generate("k2").text(),
                "IDENTITY_KEK_PREVIOUS": "k1:" + base64.b64encode(b"short").decode(),
            }
        )
    current, previous = Kek.generate("k2"), Kek.generate("k1")
    settings = IdentitySettings.from_env(
        {"IDENTITY_KEK": current.text(), "IDENTITY_KEK_PREVIOUS": previous.text()}
    )
    assert settings.keyring == Keyring(current, (previous,))
    assert current.text() not in repr(settings)


def test_the_process_stops_with_one_line_when_the_kek_is_missing(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IDENTITY_KEK", "CROSSTALK_", "IDENTITY_DATABASE"))
    }
    env |= {"CROSSTALK_VAR_DIR": str(tmp_path), "IDENTITY_PORT": "0"}
    finished = subprocess.run(
        [sys.executable, "-m", "identity"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert "identity: cannot start: IDENTITY_KEK is required" in finished.stderr
    assert "Traceback" not in finished.stderr
