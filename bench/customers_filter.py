"""customers: 10-condition filters over 1,000,000 customers — first page and count.

Runs the real path below gRPC: the proto condition is checked by
``parse_customer_filter`` (tenant fields, limit) and run by the customers
repository with the in-memory filter index (ADR 0010), on SQLite or
PostgreSQL (--pg). The same filters run by SQL alone (the repository
without the index) are printed beside them, fewer times, as the baseline;
their counts must agree. Last, the cost of catching up: one count right
after 1, 1,000 and 10,000 customers were written.
Figures are printed, never asserted. Targets (issue 4): first page p95
≤ 50 ms and count ≤ 200 ms on PostgreSQL; ≤ 100 ms and ≤ 300 ms on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench.customers_data import MIGRATIONS, TENANT, analyze, ensure_dataset
from bench.stats import summary_ms
from crosstalk.common.v1 import condition_pb2 as cpb
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from customers.adapters.filter_index.index import FilterIndex
from customers.adapters.filtering import parse_customer_filter
from customers.adapters.tables import customers, outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.search import CustomerSearch

OP = {name.removeprefix("OPERATOR_").lower(): value for name, value in cpb.Operator.items()}


def leaf(field: str, op: str, *values: str) -> cpb.Condition:
    return cpb.Condition(leaf=cpb.ConditionLeaf(field=field, operator=OP[op], values=list(values)))


def group(op: str, *children: cpb.Condition) -> cpb.Condition:
    logical = {"and": cpb.LOGICAL_OPERATOR_AND, "or": cpb.LOGICAL_OPERATOR_OR}[op]
    return cpb.Condition(group=cpb.ConditionGroup(operator=logical, conditions=list(children)))


# Three filters a sales lead would save, ten conditions each.
FILTERS = {
    "engaged buyers in the EU": group(
        "and",
        leaf("tags", "has_any_tag", "tags/tag-00", "tags/tag-03"),
        leaf("country", "in", "DE", "FR", "ES", "IT"),
        leaf("score", "gte", "20"),
        leaf("lifecycle_stage", "in", "intent", "deal", "repeat"),
        leaf("blacklisted", "equals", "false"),
        leaf("create_time", "within_last", "P730D"),
        leaf("custom_fields.source", "in", "ads", "referral", "marketplace"),
        group("or", leaf("order_count", "gte", "1"), leaf("custom_fields.budget", "gte", "1000")),
        leaf("language", "not_equals", "ja"),
    ),
    "valuable and recently active": group(
        "and",
        leaf("tier", "in", "tiers/tier-gold", "tiers/tier-platinum"),
        leaf("last_active_time", "within_last", "P180D"),
        leaf("points_balance", "gte", "100"),
        leaf("order_value", "gte", "200"),
        leaf("channel", "in", "amazon", "ebay"),
        leaf("tags", "has_no_tag", "tags/tag-05"),
        leaf("department", "in", "departments/dept-sales-eu", "departments/dept-key-accounts"),
        leaf("custom_fields.interests", "has_any_tag", "shoes", "bags"),
        leaf("blacklisted", "equals", "false"),
        leaf("score", "between", "10", "90"),
    ),
    "rare: VIP codes in Asia": group(
        "and",
        leaf("custom_fields.vip_code", "is_not_empty"),
        leaf("country", "in", "VN", "TH", "MY", "JP"),
        leaf("tags", "has_all_tags", "tags/tag-00", "tags/tag-01"),
        leaf("score", "gt", "0"),
        leaf("lifecycle_stage", "not_in", "dormant"),
        leaf("order_count", "gte", "0"),
        leaf("points_balance", "gte", "0"),
        leaf("create_time", "after", "2024-01-01T00:00:00Z"),
        leaf("blacklisted", "equals", "false"),
        leaf("display_name", "contains", "Buyer"),
    ),
}

SCOPES = {
    "all": Visibility(DataScope.ALL),
    "department": Visibility(DataScope.DEPARTMENT, "member-000", frozenset({"dept-sales-eu"})),
}


async def _measure(
    service: CustomerSearch,
    visibility: Visibility,
    condition: cpb.Condition,
    pages: int,
    counts: int,
) -> tuple[int, int, list[float], list[float]]:
    """Parse + first page, and parse + count, each timed ``pages``/``counts`` times."""
    node = await parse_customer_filter(service, TENANT, condition)
    first: list[float] = []
    rows = 0
    for _ in range(pages):
        started = time.perf_counter()
        await parse_customer_filter(service, TENANT, condition)
        rows = len(await service.page(TENANT, visibility, condition=node, after=[], limit=51))
        first.append(time.perf_counter() - started)
    counted: list[float] = []
    total = 0
    for _ in range(counts):
        started = time.perf_counter()
        await parse_customer_filter(service, TENANT, condition)
        total = await service.count(TENANT, visibility, node)
        counted.append(time.perf_counter() - started)
    return total, rows, first, counted


async def _write_then_count(
    service: CustomerSearch, sessions: async_sessionmaker[Any], n: int
) -> float:
    """Seconds for one count right after ``n`` customers were written (catching up)."""
    async with sessions() as session, session.begin():
        ids = (
            await session.scalars(
                select(customers.c.id).where(customers.c.tenant_id == TENANT).limit(n)
            )
        ).all()
        await session.execute(
            update(customers)
            .where(customers.c.tenant_id == TENANT, customers.c.id.in_(ids))
            .values(score=customers.c.score + 1)
        )
    node = await parse_customer_filter(service, TENANT, FILTERS["engaged buyers in the EU"])
    started = time.perf_counter()
    await service.count(TENANT, SCOPES["all"], node)
    return time.perf_counter() - started


def _rss_mib() -> int:
    """This process's resident memory (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


async def run(url: str, pages: int, counts: int) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    index = FilterIndex(engine)
    indexed = CustomerSearch(lambda: CustomersUnitOfWork(sessions, outbox, filter_index=index))
    sql_only = CustomerSearch(lambda: CustomersUnitOfWork(sessions, outbox))
    started, rss_before = time.perf_counter(), _rss_mib()
    table = await index.ready(TENANT)
    print(
        f"filter index: {table.size:,} customers loaded in {time.perf_counter() - started:.1f} s "
        "(once per process, in the background; SQL answers meanwhile); "
        f"resident memory {rss_before:,} -> {_rss_mib():,} MiB"
    )
    for scope_name, visibility in SCOPES.items():
        for name, condition in FILTERS.items():
            total, rows, first, counted = await _measure(
                indexed, visibility, condition, pages, counts
            )
            sql_total, _, sql_first, sql_counted = await _measure(
                sql_only, visibility, condition, max(1, pages // 10), max(1, counts // 5)
            )
            assert sql_total == total, f"index and SQL disagree: {total} vs {sql_total}"
            print(f"{name} [{scope_name}]: {total:,} match, first page {rows} rows")
            print("  index " + summary_ms("first page (50)", first))
            print("  index " + summary_ms("count", counted))
            print("  SQL   " + summary_ms("first page (50)", sql_first))
            print("  SQL   " + summary_ms("count", sql_counted))
    for n in (1, 1_000, 10_000):
        seconds = await _write_then_count(indexed, sessions, n)
        print(f"count right after {n:,} customers were written: {seconds * 1000:.0f} ms")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="PostgreSQL admin URL (default: SQLite)")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--counts", type=int, default=10)
    args = parser.parse_args()
    url = ensure_dataset(args.customers, args.pg)
    upgrade_to_head(MIGRATIONS, url)  # indexes added since the dataset was built
    analyze(url)
    print(
        f"customers filter bench on {'PostgreSQL' if args.pg else 'SQLite'}, "
        f"{args.customers:,} customers in the tenant"
    )
    asyncio.run(run(url, args.pages, args.counts))


if __name__ == "__main__":
    main()
