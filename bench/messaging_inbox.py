"""messaging: the inbox's first page (ListConversations below gRPC) over 100,000
conversations, by filter and data scope.

Loads one tenant's 100,000 conversations (priorities mostly NORMAL, five statuses, 50
owners in 5 departments, a tenth of the customers Gold, a twentieth tagged) with their
customer snapshots, analyses, then times ``SqlConversationsRepository.inbox`` (the unit of
work, the query, the labels' query and the rows made domain objects) 30 times per case.
Figures are printed, never asserted. Target (issue 15): first page p95 <= 50 ms on
PostgreSQL. Run: ``CROSSTALK_TEST_DB=postgres .venv/bin/python -m bench.messaging_inbox``.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from messaging.adapters.tables import (
    conversations,
    customer_snapshot_tags,
    customer_snapshots,
    outbox,
)
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.conversation_ports import ConversationFilter
from messaging.bootstrap import MIGRATIONS
from messaging.domain.conversation_state import ConversationStatus

N = 100_000
TENANT = "bench"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ["unread", "replied", "in_progress", "closed", "exception"]


def _rows() -> tuple[list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
    rnd = random.Random(7)
    rows, snapshots, tags = [], [], []
    for i in range(N):
        at = T0 + timedelta(seconds=rnd.randrange(0, 30 * 86400))
        owner, department, customer = f"m-{i % 50}", f"d-{i % 5}", f"customers/c{i}"
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "tenant_id": TENANT,
                "customer": customer,
                "channel": "email",
                "store": "",
                "sender_external_id": f"b{i}@x.test",
                "status": rnd.choice(STATUSES),
                "priority": rnd.choices([1, 2, 3, 4], [10, 80, 8, 2])[0],
                "follow_ups": rnd.randrange(0, 3),
                "last_message_at": at,
                "created_at": at,
                "last_inbound_at": at,
                "opened_at": at,
                "inbox_at": at,
                "updated_at": at,
                "owner_member_id": owner,
                "department_id": department,
            }
        )
        snapshots.append(
            {
                "tenant_id": TENANT,
                "customer": customer,
                "version": 1,
                "owner_member_id": owner,
                "department_id": department,
                "tier": "Gold" if i % 10 == 0 else "",
                "tag_labels": [],
                "updated_at": at,
            }
        )
        if i % 20 == 0:
            tags.append({"tenant_id": TENANT, "customer": customer, "tag": "tags/vip"})
    return rows, snapshots, tags


CASES = {
    "all, no filter": (Visibility.everything(), ConversationFilter()),
    "all, status UNREAD": (
        Visibility.everything(),
        ConversationFilter(statuses=frozenset({ConversationStatus.UNREAD})),
    ),
    "all, unread=true": (Visibility.everything(), ConversationFilter(unread=True)),
    "own scope (1 of 50)": (Visibility(DataScope.OWN, member_id="m-7"), ConversationFilter()),
    "department scope (1 of 5)": (
        Visibility(DataScope.DEPARTMENT, departments=frozenset({"d-2"})),
        ConversationFilter(),
    ),
    "all, customer tier Gold": (Visibility.everything(), ConversationFilter(customer_tier="Gold")),
    "all, customer tag vip": (
        Visibility.everything(),
        ConversationFilter(customer_tags=("tags/vip",)),
    ),
}


async def main() -> None:
    url = service_database_urls(("messaging",), Path(tempfile.mkdtemp()), "inboxbench")["messaging"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    rows, snapshots, tags = _rows()
    async with sessions.begin() as session:
        for start in range(0, N, 5000):
            await session.execute(insert(conversations), rows[start : start + 5000])
            await session.execute(insert(customer_snapshots), snapshots[start : start + 5000])
        await session.execute(insert(customer_snapshot_tags), tags)
    if engine.dialect.name == "postgresql":
        database = str(engine.url.database)
        command = ["psql", "-h", str(engine.url.host), "-U", str(engine.url.username)]
        vacuum = [*command, "-d", database, "-qc", "VACUUM ANALYZE"]
        await asyncio.to_thread(subprocess.run, vacuum, check=True)
    print(f"{engine.dialect.name}, {N:,} conversations, first page of 50 (30 runs each)")
    for name, (visibility, where) in CASES.items():
        times = []
        for _ in range(30):
            start = time.perf_counter()
            async with MessagingUnitOfWork(sessions, outbox) as uow:
                page = await uow.conversations.inbox(TENANT, visibility, where, [], 51)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        print(
            f"  {name:28s} rows={len(page):3d}  p50 {times[len(times) // 2]:6.1f} ms"
            f"  p95 {times[int(len(times) * 0.95) - 1]:6.1f} ms"
        )
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
