"""identity: sign-in, refresh and a 5,000-row member import, in process.

Runs the use cases against a real database (SQLite in a temporary directory,
or PostgreSQL with --pg) with the production password hasher, so the login
figure is mostly argon2id. No gRPC, no network: these are the service's own
costs. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
import uuid
from pathlib import Path

from openpyxl import Workbook  # type: ignore[import-untyped]

from bench.stats import summary_ms
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import ALL_PERMISSIONS
from crosstalk_common.secrets import Kek, Keyring
from crosstalk_devstack.databases import fresh_postgres_database
from identity.adapters.member_files import MemberFileReader
from identity.adapters.passwords import Argon2Hasher
from identity.adapters.signing_keys import SqlSigningKeys
from identity.adapters.tables import metadata
from identity.adapters.unit_of_work import IdentityUnitOfWork
from identity.app.context import Actor
from identity.app.use_cases import IdentityApp
from identity.domain.model import Department, SignUp
from identity.domain.signing import KeyPolicy

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "identity" / "migrations"
PASSWORD = "bench-password-1"


def member_rows(n: int) -> list[list[str]]:
    tag = uuid.uuid4().hex[:6]
    rows = [["email", "name", "phone", "department", "role", "languages"]]
    for i in range(n):
        rows.append(
            [
                f"agent{i}-{tag}@bench.test",
                f"Agent {i}",
                f"+86 138 {i:04d} {i % 9999:04d}",
                "Sales/DE" if i % 2 else "Service",
                "normal" if i % 3 else "restricted",
                "en;zh" if i % 2 else "de",
            ]
        )
    return rows


def as_csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in rows).encode()


def as_xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def run(url: str, logins: int, refreshes: int, rows: int) -> None:
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    keys = SqlSigningKeys(sessions, KeyPolicy(), keyring=Keyring(Kek.generate("bench")))
    await keys.maintain()
    hasher = Argon2Hasher()
    app = IdentityApp.build(
        lambda: IdentityUnitOfWork(sessions, metadata.tables["outbox"]),
        hasher=hasher,
        signer=keys,
        keys=keys,
        reader=MemberFileReader(),
    )
    print(f"password hashing: {hasher.parameters}")
    email = f"bench-{uuid.uuid4().hex[:8]}@bench.test"
    tenant, admin = await app.tenants.sign_up(
        SignUp("Bench", "bench", 5000, "en", email, "Bench Admin", PASSWORD)
    )
    actor = Actor(tenant.id, f"members/{admin.id}", ALL_PERMISSIONS)
    sales = await app.departments.create(actor, Department("", "", "Sales"))
    await app.departments.create(actor, Department("", "", "DE", parent_id=sales.id))
    await app.departments.create(actor, Department("", "", "Service"))

    samples = []
    pair = None
    for _ in range(logins):
        start = time.perf_counter()
        pair = await app.auth.login(email, PASSWORD)
        samples.append(time.perf_counter() - start)
    print(summary_ms("Login (argon2id verify + session + JWT)", samples))

    assert pair is not None
    token = pair.refresh_token
    samples = []
    for _ in range(refreshes):
        start = time.perf_counter()
        token = (await app.auth.refresh(token)).refresh_token
        samples.append(time.perf_counter() - start)
    print(summary_ms("RefreshToken (rotate + JWT)", samples))

    for label, encode, file_format in (("csv", as_csv, "csv"), ("xlsx", as_xlsx, "xlsx")):
        content = encode(member_rows(rows))
        start = time.perf_counter()
        plan = await app.imports.preview(actor, content, file_format, [])
        preview = time.perf_counter() - start
        start = time.perf_counter()
        result = await app.imports.commit(
            actor, content, file_format, [], skip_invalid_rows=False, update_existing=False
        )
        commit = time.perf_counter() - start
        print(
            f"import {rows} rows ({label}, {len(content) / 1024:.0f} KiB): "
            f"preview {preview:.2f} s ({len(plan.members)} valid, {len(plan.errors)} errors), "
            f"commit {commit:.2f} s ({result.created} created, with audit rows and "
            "member.created events in the same transaction)"
        )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--refreshes", type=int, default=300)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--pg", default="", help="PostgreSQL admin URL: run on PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg:
            url = fresh_postgres_database(args.pg, "crosstalk_bench_identity")
            print("database: PostgreSQL")
        else:
            url = f"sqlite:///{Path(tmp) / 'identity.db'}"
            print("database: SQLite (file, WAL)")
        asyncio.run(run(url, args.logins, args.refreshes, args.rows))


if __name__ == "__main__":
    main()
