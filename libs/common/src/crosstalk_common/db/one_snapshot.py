"""Reads that must agree with each other: one snapshot of the database for all.

A read here runs as a statement of its own: on PostgreSQL a pooled connection
rests in autocommit until its first write (``pg_lazy_begin``), and Python's
sqlite3 opens a transaction only before a write. Each read therefore sees what
was committed when it started. That is right for a single read, and wrong for
a result put together from several: a rate read as a numerator and then a
denominator can see a writer commit between the two, and answer 0 of 1 for a
rule that matched the one time it was evaluated (both counts came in one
commit). ``read_one_snapshot`` makes every later read of the transaction see
the database as it was at its first read:

- PostgreSQL: the transaction runs REPEATABLE READ, READ ONLY (its snapshot
  is taken at the first statement after this one);
- SQLite: a deferred BEGIN; in WAL mode the first read takes the snapshot the
  transaction keeps, and it takes no lock writers wait for.

The cost is a round trip on PostgreSQL (psycopg's BEGIN before the SET) and
the rollback that ends the transaction; call it only where reads must agree.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_HOW = {
    "postgresql": "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    "sqlite": "BEGIN",
}


async def read_one_snapshot(session: AsyncSession) -> None:
    """Make the rest of the session's transaction, which must not have run a
    statement yet (both databases refuse it after one), read one snapshot.
    The transaction ends as usual: a commit, or the rollback when the session
    closes."""
    dialect = session.get_bind().dialect.name
    await session.execute(text(_HOW[dialect]))
