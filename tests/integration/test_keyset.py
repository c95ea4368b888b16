"""Keyset pages (crosstalk_common.db.keyset.past) walk every row once, in order,
both ways, when many rows share the first key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select

from crosstalk_common.db.engine import create_engine
from crosstalk_common.db.keyset import past

metadata = MetaData()
rows = Table(
    "keyset_rows",
    metadata,
    Column("id", String(10), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


def test_pages_follow_on_from_the_last_row_in_both_directions(db_url: str) -> None:
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    data = [{"id": f"r{n:02d}", "at": start + timedelta(seconds=n % 3)} for n in range(25)]

    async def walk(descending: bool) -> list[str]:
        columns = [rows.c.at, rows.c.id]
        order = [c.desc() for c in columns] if descending else columns
        seen: list[str] = []
        last: list[object] | None = None
        async with engine.connect() as conn:
            while True:
                query = select(rows.c.at, rows.c.id).order_by(*order).limit(4)
                if last is not None:
                    query = query.where(past(columns, last, descending=descending))
                page = (await conn.execute(query)).all()
                if not page:
                    return seen
                seen += [r.id for r in page]
                last = [page[-1].at, page[-1].id]

    async def scenario() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(rows), data)
        expected = [r["id"] for r in sorted(data, key=lambda r: (r["at"], r["id"]))]
        assert await walk(descending=False) == expected
        assert await walk(descending=True) == expected[::-1]
        await engine.dispose()

    engine = create_engine(db_url)
    asyncio.run(scenario())
