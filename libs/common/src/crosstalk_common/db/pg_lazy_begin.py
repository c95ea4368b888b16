"""PostgreSQL: a transaction begins with its first statement that needs one.

psycopg opens a transaction (a BEGIN, one round trip) before a connection's
first statement, and SQLAlchemy's pool ends it with a ROLLBACK (another)
when a unit of work that only read gives its connection back. A
GetCustomer, one SELECT, made three round trips for it, four with the pool's
pre-ping, which also ran in a transaction of its own (issue 14).

Here a pooled connection rests in autocommit mode, so reads before any write
(and the pre-ping) run as statements of their own, and the transaction
begins, as psycopg's implicit BEGIN, just before the first statement that
needs one: anything but a plain SELECT (INSERT, UPDATE, DELETE, SAVEPOINT, a
CTE that writes, ...), a SELECT that locks rows (FOR UPDATE / SHARE) or takes a
transaction-scoped advisory lock (pg_advisory_xact_lock...), and a streamed
SELECT (server-side cursors live in a transaction). Under READ COMMITTED,
PostgreSQL's default and the level every engine here runs at, each statement
sees the data committed when it starts, inside a transaction or not, so those
earlier reads see what they saw before; the commit or rollback of a transaction
that never began has nothing to do and makes no round trip. The connection goes
back to autocommit when it returns to the pool.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

_LOCKING_READ = re.compile(
    r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b"
    # a transaction-scoped advisory lock, released at once outside a transaction
    r"|\bpg_(try_)?advisory_xact_lock(_shared)?\s*\(",
    re.I,
)


def needs_transaction(statement: str, server_side: bool = False) -> bool:
    """Whether a statement must run in the transaction (see the module's docstring)."""
    if server_side:
        return True
    head = statement.lstrip()[:6]
    if head.upper() != "SELECT":
        return True
    return _LOCKING_READ.search(statement) is not None


def _psycopg(dbapi_connection: Any) -> Any:
    return dbapi_connection._connection  # SQLAlchemy's async adapter wraps psycopg's


def _at_rest(dbapi_connection: Any, _record: Any) -> None:
    """On connect and on check-in: autocommit, if no transaction is open."""
    if dbapi_connection is None:
        return
    connection = _psycopg(dbapi_connection)
    if connection.autocommit or connection.closed:
        return
    if connection.info.transaction_status != TransactionStatus.IDLE:
        return  # the pool invalidates a connection it could not reset
    try:
        dbapi_connection.autocommit = True
    except Exception:  # e.g. checked in outside the event loop: it stays as it is
        log.debug("connection left out of autocommit", exc_info=True)


def _begin_if_needed(
    conn: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is None or not _psycopg(dbapi_connection).autocommit:
        return
    server_side = context is not None and context._is_server_side
    if needs_transaction(statement, server_side):
        # psycopg issues BEGIN before this statement, as it did before the first.
        dbapi_connection.autocommit = False


def begin_lazily(engine: Engine) -> None:
    """Install on an async psycopg engine (``create_engine`` does for PostgreSQL)."""
    event.listen(engine, "connect", _at_rest)
    event.listen(engine.pool, "checkin", _at_rest)
    event.listen(engine, "before_cursor_execute", _begin_if_needed)
