"""Identity's tests run against a real, migrated database: SQLite by default,
PostgreSQL with CROSSTALK_TEST_DB=postgres (URL from CROSSTALK_TEST_PG_URL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk.events.v1 import envelope_pb2
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import ALL_PERMISSIONS
from crosstalk_common.secrets import Kek, Keyring
from crosstalk_devstack.databases import DEFAULT_PG_URL, postgres_reachable, service_database_urls
from identity.adapters.member_files import MemberFileReader
from identity.adapters.passwords import Argon2Hasher
from identity.adapters.signing_keys import LocalKeySource, SqlSigningKeys
from identity.adapters.tables import metadata, outbox
from identity.adapters.unit_of_work import IdentityUnitOfWork
from identity.app.context import Actor
from identity.app.ports import PasswordHasher as HasherPort
from identity.app.use_cases import IdentityApp
from identity.domain.lockout import LockoutPolicy
from identity.domain.model import Member, SignUp, Tenant, TokenLifetimes
from identity.domain.signing import KeyPolicy

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
PASSWORD = "correct horse battery"
# argon2id, cheap enough for many sign-ins per test (production uses the library's defaults).
FAST_HASHER = Argon2Hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
# A key-encryption key of this test run only (ADR 0015).
TEST_KEYRING = Keyring(Kek.generate("test-kek"))


@pytest.fixture(scope="session", autouse=True)
def _backend_available() -> None:
    if os.environ.get("CROSSTALK_TEST_DB", "sqlite") != "postgres":
        return
    url = os.environ.get("CROSSTALK_TEST_PG_URL", DEFAULT_PG_URL)
    if postgres_reachable(url):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is not reachable at {url}")
    pytest.skip(f"PostgreSQL is not reachable at {url}")


def migrated_url(base: Path, label: str) -> str:
    url = service_database_urls(("identity",), base, label)["identity"]
    upgrade_to_head(MIGRATIONS, url)
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return migrated_url(tmp_path_factory.mktemp("identity"), "identity_tests")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(database_url)
    yield created
    await created.dispose()


class FakeClock:
    """A clock tests move by hand; it starts at the real time so that JWTs it
    stamps are valid for verifiers that read the real clock."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Env:
    app: IdentityApp
    clock: FakeClock
    keys: SqlSigningKeys
    key_source: LocalKeySource
    engine: AsyncEngine

    async def sign_up(self, company: str = "Acme") -> tuple[Tenant, Member, Actor]:
        email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
        tenant, admin = await self.app.tenants.sign_up(
            SignUp(company, "retail", 12, "en", email, "Ada Admin", PASSWORD)
        )
        return tenant, admin, admin_actor(tenant, admin)

    async def events(
        self, tenant_id: str, event_type: str = ""
    ) -> list[envelope_pb2.EventEnvelope]:
        async with session_factory(self.engine)() as session:
            rows = (await session.execute(select(outbox.c.payload))).scalars().all()
        found = [envelope_pb2.EventEnvelope.FromString(r) for r in rows]
        return [
            e
            for e in found
            if e.tenant_id == tenant_id and (not event_type or e.type == event_type)
        ]


def admin_actor(
    tenant: Tenant, admin: Member, permissions: frozenset[str] = ALL_PERMISSIONS
) -> Actor:
    return Actor(tenant.id, f"members/{admin.id}", permissions)


def member_actor(member: Member, permissions: frozenset[str]) -> Actor:
    return Actor(member.tenant_id, f"members/{member.id}", permissions)


async def build_env(
    engine: AsyncEngine,
    clock: FakeClock,
    *,
    lockout: LockoutPolicy | None = None,
    key_policy: KeyPolicy | None = None,
    hasher: HasherPort = FAST_HASHER,
) -> Env:
    sessions = session_factory(engine)

    def new_uow() -> IdentityUnitOfWork:
        return IdentityUnitOfWork(sessions, metadata.tables["outbox"])

    keys = SqlSigningKeys(
        sessions, key_policy or KeyPolicy(), keyring=TEST_KEYRING, clock=clock, cache_seconds=0
    )
    await keys.maintain()
    app = IdentityApp.build(
        new_uow,
        hasher=hasher,
        signer=keys,
        keys=keys,
        reader=MemberFileReader(),
        clock=clock,
        lifetimes=TokenLifetimes(),
        lockout=lockout or LockoutPolicy(),
    )
    return Env(app, clock, keys, LocalKeySource(keys), engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def env(engine: AsyncEngine, clock: FakeClock) -> Env:
    return await build_env(engine, clock)


@pytest.fixture
def fresh_database(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database of its own, for tests of platform-wide tables (signing keys)."""
    label = f"identity_{request.node.name[:20].lower().replace('[', '_').replace(']', '')}"
    return migrated_url(tmp_path, label)
