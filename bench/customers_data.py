"""A large, realistic customers database for the customers benches.

One tenant with ``--customers`` customers (1,000,000 by default): tags from
behaviour / intent / lifecycle groups with a skewed spread (a few common
tags, a long tail), scores, points, orders, lifecycle stages, tiers, owners
across departments, channel identities on Amazon/eBay/Shopee/email/WhatsApp,
and four custom fields. A second small tenant shares the database so
tenant filtering is always part of the work.

The database is kept between runs (``var/bench``; on PostgreSQL the
database ``crosstalk_bench_customers``) and only built when missing or of
another size, because building 1M customers takes minutes.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, func, insert, select

from crosstalk_common.db.engine import sync_url
from crosstalk_common.db.migrations import upgrade_to_head
from customers.adapters.tables import (
    custom_field_definitions,
    customer_identities,
    customer_tags,
    customers,
    tags,
)

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "services" / "customers" / "migrations"
TENANT = "00000000-0000-4000-8000-00000000b1a1"
OTHER_TENANT = "00000000-0000-4000-8000-00000000b1a2"
NOW = datetime(2026, 11, 1, tzinfo=UTC)

TAGS = [f"tag-{n:02d}" for n in range(40)]  # ids; tag-00 is the most common
COUNTRIES = ["DE", "US", "GB", "FR", "ES", "IT", "VN", "TH", "MY", "JP", "BR", "MX", "PL", "NL"]
LANGUAGES = {
    "DE": "de",
    "US": "en",
    "GB": "en",
    "FR": "fr",
    "ES": "es",
    "IT": "it",
    "VN": "vi",
    "TH": "th",
    "MY": "ms",
    "JP": "ja",
    "BR": "pt",
    "MX": "es",
    "PL": "pl",
    "NL": "nl",
}
STAGES = ["potential", "intent", "deal", "repeat", "dormant"]
TIERS = ["", "", "", "tier-silver", "tier-gold", "tier-platinum"]
OWNERS = [f"member-{n:03d}" for n in range(60)]
DEPARTMENTS = ["dept-sales-eu", "dept-sales-asia", "dept-support", "dept-key-accounts"]
CHANNELS = [
    ("amazon", "amazon-de"),
    ("amazon", "amazon-us"),
    ("ebay", "ebay-uk"),
    ("shopee", "shopee-vn"),
    ("email", ""),
    ("whatsapp", ""),
]
SOURCES = ["fair", "ads", "referral", "marketplace", "organic"]
INTERESTS = ["shoes", "bags", "watches", "toys", "kitchen", "garden", "phones"]


def _tag_sample(rng: random.Random) -> list[str]:
    count = rng.choices([0, 1, 2, 3, 4, 5], weights=[10, 25, 25, 20, 12, 8])[0]
    picked = {TAGS[min(int(rng.paretovariate(1.2)) - 1, len(TAGS) - 1)] for _ in range(count)}
    return sorted(picked)


def customer_rows(
    n: int, tenant: str, seed: int
) -> Iterator[tuple[dict[str, Any], list[str], dict[str, Any]]]:
    rng = random.Random(seed)
    for i in range(n):
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        country = rng.choice(COUNTRIES)
        created = NOW - timedelta(seconds=rng.randrange(3 * 365 * 86400))
        orders = rng.choices([0, 1, 2, 5, 12], weights=[45, 25, 15, 10, 5])[0]
        value = orders * rng.randrange(15, 400)
        owner = rng.choice(OWNERS)
        channel, store = rng.choice(CHANNELS)
        active = created + timedelta(
            seconds=rng.randrange(max(1, int((NOW - created).total_seconds())))
        )
        custom: dict[str, Any] = {"source": rng.choice(SOURCES)}
        if rng.random() < 0.6:
            custom["budget"] = rng.randrange(0, 5000)
        if rng.random() < 0.4:
            custom["interests"] = sorted(rng.sample(INTERESTS, rng.randrange(1, 3)))
        if rng.random() < 0.05:
            custom["vip_code"] = f"V{i:07d}"
        row = {
            "id": cid,
            "tenant_id": tenant,
            "display_name": f"Buyer {i}",
            "emails": [f"buyer{i}@example.com"] if rng.random() < 0.7 else [],
            "phones": [f"+{rng.randrange(10, 99)} {rng.randrange(10**8, 10**9)}"]
            if rng.random() < 0.4
            else [],
            "country": country,
            "language": LANGUAGES[country],
            "score": int(rng.gauss(30, 25)),
            "owner_member_id": owner,
            "department_id": DEPARTMENTS[OWNERS.index(owner) % len(DEPARTMENTS)],
            "version": 1,
            "created_at": created,
            "updated_at": created,
            "lifecycle_stage": rng.choice(STAGES) if rng.random() < 0.9 else "",
            "blacklisted": rng.random() < 0.02,
            "blacklist_reason": "",
            "blacklist_time": None,
            "points_balance": rng.randrange(0, 2000) if orders else 0,
            "order_count": orders,
            "order_currency": "EUR" if orders else "",
            "order_value_units": value,
            "order_value_nanos": 0,
            "last_order_time": active if orders else None,
            "custom_fields": custom,
            "time_zone": "",
            "tier_id": rng.choice(TIERS),
            "last_active_at": active,
        }
        external = f"{channel}-{i}-{tenant[-2:]}"
        identity = {
            "customer_id": cid,
            "tenant_id": tenant,
            "channel": channel,
            "store": store,
            "external_id": external,
        }
        yield row, _tag_sample(rng), identity


def _database(pg_admin: str | None, n: int) -> tuple[str, bool]:
    """The database URL and whether it already holds a dataset of this size."""
    if pg_admin is None:
        path = ROOT / "var" / "bench" / f"customers-{n}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
        return url, path.exists() and _count(url) == n
    name = f"crosstalk_bench_customers_{n}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = pg_admin.rsplit("/", 1)[0] + "/" + name
    return url, bool(exists) and _count(url) == n


def _count(url: str) -> int:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count())
                    .select_from(customers)
                    .where(customers.c.tenant_id == TENANT)
                )
                or 0
            )
    except Exception:
        return -1
    finally:
        engine.dispose()


def _load(engine: Engine, n: int, tenant: str, seed: int) -> None:
    batch: list[dict[str, Any]] = []
    tag_batch: list[dict[str, Any]] = []
    identity_batch: list[dict[str, Any]] = []

    def flush(conn: Any) -> None:
        if batch:
            conn.execute(insert(customers), batch)
            conn.execute(insert(customer_identities), identity_batch)
            if tag_batch:
                conn.execute(insert(customer_tags), tag_batch)
        batch.clear()
        tag_batch.clear()
        identity_batch.clear()

    with engine.begin() as conn:
        for row, row_tags, identity in customer_rows(n, tenant, seed):
            batch.append(row)
            identity_batch.append(identity)
            tag_batch.extend(
                {
                    "customer_id": row["id"],
                    "tenant_id": tenant,
                    "tag": t,
                    "created_at": row["created_at"],
                }
                for t in row_tags
            )
            if len(batch) >= 5000:
                flush(conn)
        flush(conn)


def _definitions(engine: Engine) -> None:
    with engine.begin() as conn:
        for tenant in (TENANT, OTHER_TENANT):
            for key, kind, options in (
                ("source", "single_select", SOURCES),
                ("budget", "number", []),
                ("interests", "multi_select", INTERESTS),
                ("vip_code", "text", []),
            ):
                conn.execute(
                    insert(custom_field_definitions).values(
                        id=str(uuid.uuid4()),
                        tenant_id=tenant,
                        key=key,
                        display_name=key,
                        type=kind,
                        options=options,
                        required=False,
                        description="",
                        sort_order=0,
                        version=1,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
        # Tag ids are global keys: only the measured tenant gets the tag rows.
        conn.execute(
            insert(tags),
            [
                {
                    "id": t,
                    "tenant_id": TENANT,
                    "display_name": f"Tag {t}",
                    "group_id": "",
                    "color": "",
                    "description": "",
                    "version": 1,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for t in TAGS
            ],
        )


def analyze(url: str) -> None:
    """Fresh planner statistics (and, on PostgreSQL, the visibility map that
    index-only scans need), as autovacuum would give a live database."""
    engine = create_engine(sync_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    engine.dispose()


def ensure_dataset(n: int, pg_admin: str | None = None) -> str:
    """The URL of a customers database holding ``n`` customers of TENANT."""
    url, ready = _database(pg_admin, n)
    if ready:
        return url
    if pg_admin is None:
        Path(sync_url(url).database or "").unlink(missing_ok=True)
    else:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(sync_url(url))
    started = time.perf_counter()
    _definitions(engine)
    _load(engine, n, TENANT, seed=7)
    _load(engine, max(1000, n // 100), OTHER_TENANT, seed=8)
    engine.dispose()
    analyze(url)
    print(f"built {n:,} customers in {time.perf_counter() - started:.0f} s at {url}", flush=True)
    return url
